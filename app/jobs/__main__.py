"""Job maintenance: ``python -m app.jobs {redrive|dlq-check|sweep}``."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from app.config import load_settings
from app.jobs import dlq
from app.jobs.runner import sweep
from app.jobs.runtime import JobRuntime
from app.observability import configure_logging


async def _redrive(runtime: JobRuntime) -> dict[str, Any]:
    return asdict(await dlq.redrive(runtime))


async def _check(runtime: JobRuntime) -> dict[str, Any]:
    return asdict(await dlq.check(runtime))


async def _sweep(runtime: JobRuntime) -> dict[str, Any]:
    return {"resent": await sweep(runtime)}


COMMANDS: dict[str, Callable[[JobRuntime], Awaitable[dict[str, Any]]]] = {
    "redrive": _redrive,
    "dlq-check": _check,
    "sweep": _sweep,
}


async def run(command: str) -> dict[str, Any]:
    settings = load_settings()
    configure_logging(settings)
    runtime = JobRuntime.from_settings(settings)
    try:
        return await COMMANDS[command](runtime)
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.jobs", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.command))))  # noqa: T201  (CLI output)


if __name__ == "__main__":
    main()
