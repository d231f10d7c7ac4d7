"""A Lambda handler invoked in-process, back to back: the warm path, as Lambda bills it.

The caller side is ``invoke_warm``; the program is this file, run by path with the runtime's
interpreter (the bundle's Python, ``-I``: nothing of this checkout on its path), so it imports
only the standard library and what the job's ``paths`` hold. The job comes as JSON on stdin,
the samples leave as JSON on stdout, and the statistics are the caller's (``bench.stats``)::

    {"paths": [...], "handler": "handlers.api.handler", "init": "handlers.api.environment",
     "events": {"health": [event, 200], ...}, "warmup": 30, "invokes": 300}
    -> {"health": {"samples_ns": [...], "log_bytes": 812, "log_lines": 2}, ...}

``log_*`` count what the handler wrote to stdout (what the function would send to CloudWatch
Logs) during the measured invokes.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class WarmSamples:
    """One event's measured invokes: wall time of each (ns), and what they logged in all."""

    samples_ns: list[int]
    log_bytes: int
    log_lines: int

    def samples_ms(self) -> list[float]:
        return [ns / 1e6 for ns in self.samples_ns]


def invoke_warm(
    *,
    python: Path,
    paths: Sequence[Path],
    env: Mapping[str, str],
    handler: str,
    events: Mapping[str, tuple[dict[str, Any], int]],
    warmup: int,
    invokes: int,
    init: str | None = None,
    prefix: Sequence[str] = (),
    timeout_s: float = 300,
) -> dict[str, WarmSamples]:
    """Each of ``events`` (name: event, expected status) ``warmup`` times, then ``invokes``
    times measured, on ``handler`` ("module.attribute") under ``python`` with ``paths`` first
    on sys.path and ``env`` set; ``init`` ("module.function") runs once before; ``prefix``
    goes before the interpreter (CPU pinning)."""
    job = {
        "paths": [str(path) for path in paths],
        "handler": handler,
        "init": init,
        "events": events,
        "warmup": warmup,
        "invokes": invokes,
    }
    result = subprocess.run(  # noqa: S603  (the runtime's interpreter, this program)
        [*prefix, str(python), "-I", str(Path(__file__).resolve())],
        input=json.dumps(job),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Lambda warm path failed:\n{result.stderr[-3000:]}")
    try:
        raw: dict[str, dict[str, Any]] = json.loads(result.stdout)
    except ValueError:
        raise RuntimeError(f"Lambda warm path: no result:\n{result.stderr[-3000:]}") from None
    return {name: WarmSamples(**values) for name, values in raw.items()}


# --- the program (the runtime's interpreter) --------------------------------------------------


class OutputCounter:
    """Stands in for stdout: what the function would send to CloudWatch Logs, counted."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        self.lines += text.count("\n")
        return len(text)

    def flush(self) -> None:
        pass


class Context:
    function_name = "bench"
    memory_limit_in_mb = 1024
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"


def _attribute(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _measure(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out, counter = sys.stdout, OutputCounter()
    # Before the handler's import, so the log handlers it sets up write to the counter.
    sys.stdout = counter
    try:
        handler: Handler = _attribute(job["handler"])
        if job["init"]:
            _attribute(job["init"])()
        results: dict[str, dict[str, Any]] = {}
        for name, (event, expected) in job["events"].items():
            for _ in range(job["warmup"]):
                handler(event, Context())
            counter.bytes = counter.lines = 0
            samples: list[int] = []
            for _ in range(job["invokes"]):
                started = time.perf_counter_ns()
                response = handler(event, Context())
                samples.append(time.perf_counter_ns() - started)
                if response["statusCode"] != expected:
                    raise SystemExit(f"{name}: {response}")
            results[name] = {
                "samples_ns": samples,
                "log_bytes": counter.bytes,
                "log_lines": counter.lines,
            }
        return results
    finally:
        sys.stdout = out


def main() -> None:
    job = json.load(sys.stdin)
    sys.path[:0] = job["paths"]
    results = _measure(job)
    sys.stdout.write(json.dumps(results))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
