"""``python -m bench <command> [options]``: one entry point for every benchmark.

Each command is a module of this package with ``main(argv) -> int``; add a line to
``COMMANDS`` to add one. ``python -m bench <command> --help`` shows its options.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "all": ("bench.suite", "everything below, then the report (make bench)"),
    "coldstart": ("bench.coldstart", "Lambda cold start: full app vs FastAPI hello world"),
    "load": ("bench.load", "containers cold and warm, Lambda warm path, vs FastAPI hello"),
    "worker": ("bench.worker", "jobs worker throughput vs a raw SQS loop"),
    "cost": ("bench.cost", "monthly cost per target per RPS, crossovers"),
    "report": ("bench.report", "report.md and charts from a results.json"),
    "remote": ("bench.remote", "against a deployed URL (opt-in, bounded)"),
    "smoke": ("bench.smoke", "prove a running Trident works, end to end, leaving nothing"),
}


def usage() -> str:
    lines = ["usage: python -m bench <command> [options]", "", "commands:"]
    lines += [f"  {name:<12} {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        sys.stdout.write(usage() + "\n")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"unknown command {name!r}\n\n{usage()}\n")
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
