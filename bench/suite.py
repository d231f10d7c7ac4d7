"""``make bench`` = ``python -m bench all``: every measurement, the cost model and the report.

Writes bench/results/<date>-<short sha>/ (or ``--out DIR``): results.json (everything
measured and modelled, plus how and where), report.md and the PNG charts. Progress bars on
stderr, so ``--json`` (results.json on stdout) stays clean. Runs in about two minutes on
two cores; ``--quick`` makes every stage as short as it can go (for a smoke run).
Long reliability runs (fuzzing, soak) are not part of it: ``make fuzz``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import coldstart, cost, load, report, worker
from bench.cost.inputs import Inputs
from bench.cost.measured import RESULTS_DIR, measured_inputs
from bench.cost.model import CONTAINERS, TARGETS, Model
from bench.cost.prices import load_prices
from bench.report.summary import summary_table
from deployment.lockfile import REPO


@dataclass(frozen=True)
class Plan:
    """How long each stage runs."""

    lambda_runs: int = 5
    lambda_db_runs: int = 3
    load_options: load.Options = dataclasses.field(default_factory=load.Options)
    worker_messages: int = 200
    worker_rounds: int = 1
    # Real jobs through the worker process: 1 MiB uploads ingested, exports of 100 files.
    worker_ingests: int = 20
    worker_exports: int = 10

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            lambda_runs=1,
            lambda_db_runs=1,
            load_options=load.Options(
                runs=1, duration_s=0.5, warmup_s=0.2, lambda_invokes=30, lambda_warmup=5
            ),
            worker_messages=20,
            worker_ingests=3,
            worker_exports=2,
        )


def git(*args: str) -> str:
    return subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607  (git from PATH)
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def machine() -> dict[str, Any]:
    import psutil

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": platform.platform(terse=True),
    }


def meta(command: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "date": now.strftime("%Y-%m-%d"),
        "started_at": now.isoformat(timespec="seconds"),
        "git_sha": git("rev-parse", "--short", "HEAD") or "nogit",
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        "machine": machine(),
        "command": command,
    }


def cost_curve(inputs: Inputs, points: int = 60) -> dict[str, list[float]]:
    """Totals on a log grid spanning the RPS list (from 1 RPS at the least, the chart's axis
    is logarithmic), for the chart's lines; containers also on a direct ALB."""
    prices = load_prices()
    engine = Model(inputs.replace(direct_alb=False), prices)
    direct = Model(inputs.replace(direct_alb=True), prices)
    low = math.log10(max(1.0, min(inputs.rps)))
    high = max(low + 1, math.log10(max(1.0, max(inputs.rps))))
    grid = [10 ** (low + (high - low) * i / (points - 1)) for i in range(points)]
    curve: dict[str, list[float]] = {"rps": [round(r, 3) for r in grid]}
    for target in TARGETS:
        curve[target] = [round(engine.total(target, r), 2) for r in grid]
        if target in CONTAINERS:
            curve[f"{target}_direct_alb"] = [round(direct.total(target, r), 2) for r in grid]
    return curve


@contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[str], None]]]:
    """``stage(name, steps)`` returns ``step(description)``, one bar per stage, on stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<44}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:

        def stage(name: str, steps: int) -> Callable[[str], None]:
            task = progress.add_task(name, total=steps)

            def step(description: str) -> None:
                progress.update(task, advance=1, description=f"{name}: {description}")

            return step

        yield stage


def run(plan: Plan, *, command: str) -> dict[str, Any]:
    """Every stage; the results.json document."""
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": meta(command)}
    timings: dict[str, float] = {}
    with _progress() as stage:
        step = stage("Lambda cold start (emulator)", 1)
        t = time.perf_counter()
        cold = coldstart.run(runs=plan.lambda_runs, db_runs=plan.lambda_db_runs)
        results["coldstart"] = dataclasses.asdict(cold)
        timings["coldstart"] = time.perf_counter() - t
        step("done")

        step = stage("Containers and Lambda warm path", plan.load_options.steps())
        t = time.perf_counter()
        results["load"] = load.run(plan.load_options, step=step)
        timings["load"] = time.perf_counter() - t

        step = stage("Jobs worker vs raw boto3, real jobs", 1)
        t = time.perf_counter()
        measured = worker.run(
            messages=plan.worker_messages,
            concurrency=4,
            rounds=plan.worker_rounds,
            ingests=plan.worker_ingests,
            exports=plan.worker_exports,
        )
        results["worker"] = dataclasses.asdict(measured)
        timings["worker"] = time.perf_counter() - t
        step("done")

        step = stage("Cost model", 1)
        inputs = measured_inputs(results, Inputs())
        results["cost"] = cost.model(inputs)
        results["cost_curve"] = cost_curve(inputs)
        step("done")
    results["meta"]["stage_s"] = {name: round(s, 1) for name, s in timings.items()}
    results["meta"]["duration_s"] = round(time.perf_counter() - started, 1)
    return results


def output_dir(results: dict[str, Any]) -> Path:
    meta = results["meta"]
    return RESULTS_DIR / f"{meta['date']}-{meta['git_sha']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench all", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--out", type=Path, help="directory (default bench/results/<date>-<sha>)")
    parser.add_argument("--quick", action="store_true", help="shortest stages: a smoke run")
    parser.add_argument("--json", action="store_true", help="print results.json")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    command = "python -m bench all" + (" --quick" if args.quick else "")
    results = run(plan, command=command)
    out = args.out or output_dir(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    written = report.write(results, out)
    if args.json:
        sys.stdout.write(json.dumps(results) + "\n")
    else:
        sys.stdout.write(summary_table(results) + "\n\n")
        sys.stdout.write(f"wrote {out}/ ({', '.join(p.name for p in written)}) ")
        sys.stdout.write(f"in {results['meta']['duration_s']} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
