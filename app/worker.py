"""The container worker: ``python -m app.worker`` (Fargate, EC2, and ``make dev``)."""

from __future__ import annotations

import asyncio

from app.config import load_settings
from app.domains import compose
from app.jobs.worker import serve
from app.observability import configure_logging


def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    compose()
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
