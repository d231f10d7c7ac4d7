"""report.md and its charts from a results.json: ``python -m bench report [--results DIR]``.

``python -m bench all`` writes both; this re-renders a report (after a change to this file or
to the prices) from the latest bench/results/*/results.json, or ``--results DIR``. With
``--json`` it prints what it wrote and the summary table.

This module puts the report together and writes it; the parts are modules of this package:
``summary`` (the cost table and "Which target?"), ``sections`` (cold start, warm load, jobs
worker, cost), ``floors`` (ratios to the same-run floors, the floor's drift), ``charts`` (the
PNGs) and ``text`` (numbers into words, Markdown tables).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.cost.measured import latest_results
from bench.report.charts import CHARTS, coldstart_chart, cost_chart, latency_chart
from bench.report.floors import floors_section
from bench.report.sections import coldstart_section, cost_section, load_section, worker_section
from bench.report.summary import summary_table, which_target


def render(results: Mapping[str, Any]) -> str:
    meta = results.get("meta") or {}
    machine = meta.get("machine") or {}
    dirty = " (uncommitted changes)" if meta.get("git_dirty") else ""
    lines = [
        f"# Trident bench: {meta.get('date', '?')} ({meta.get('git_sha', '?')})",
        "",
        f"- Machine: {machine.get('cpu', '?')}, {machine.get('cpus', '?')} CPUs, "
        f"{machine.get('memory_gb', '?')} GB, {machine.get('os', '?')}",
        f"- Python {meta.get('python', '?')} (bench and Gunicorn); Lambda runtime Python "
        f"{(results.get('load') or {}).get('lambda_python') or '?'}",
        f"- Git {meta.get('git_sha', '?')}{dirty}, {meta.get('date', '?')}, "
        f"`{meta.get('command', 'python -m bench all')}` in {meta.get('duration_s', '?')} s",
        "",
        "## Summary",
        "",
        summary_table(results),
        "",
        "### Which target?",
        "",
        which_target(results),
        "",
    ]
    lines += coldstart_section(results)
    lines += load_section(results)
    lines += floors_section(results)
    lines += worker_section(results)
    lines += cost_section(results)
    return "\n".join(lines).rstrip() + "\n"


def write(results: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """report.md and the charts into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cost_chart(results, out_dir / "cost.png")
    coldstart_chart(results, out_dir / "coldstart.png")
    latency_chart(results, out_dir / "latency.png")
    report = out_dir / "report.md"
    report.write_text(render(results))
    return [report, *(out_dir / name for name in CHARTS)]


def latest_dir() -> Path | None:
    latest = latest_results()
    return latest.parent if latest else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench report", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--results", type=Path, help="a bench/results/<date>-<sha> directory")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    directory = args.results or latest_dir()
    if directory is None or not (directory / "results.json").exists():
        sys.stderr.write("no results.json: run `make bench` (python -m bench all) first\n")
        return 2
    results = json.loads((directory / "results.json").read_text())
    written = write(results, directory)
    if args.json:
        document = {"written": [str(p) for p in written], "summary": summary_table(results)}
        sys.stdout.write(json.dumps(document) + "\n")
    else:
        sys.stdout.write("\n".join(str(p) for p in written) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
