"""Files maintenance: ``python -m app.files cleanup`` (prints what it removed as JSON)."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from typing import Any

from app.config import load_settings
from app.files.cleanup import cleanup
from app.observability import configure_logging
from app.resources import Resources


async def run() -> dict[str, Any]:
    settings = load_settings()
    configure_logging(settings)
    resources = Resources(settings)
    try:
        report = await cleanup(db=resources.db, aws=resources.aws, settings=settings)
    finally:
        await resources.close()
    return asdict(report)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.files", description=__doc__)
    parser.add_argument("command", choices=["cleanup"])
    parser.parse_args(argv)
    print(json.dumps(asyncio.run(run())))  # noqa: T201  (CLI output)


if __name__ == "__main__":
    main()
