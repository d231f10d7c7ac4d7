"""Containers and the Lambda handler, warm and cold, next to a FastAPI hello world:
``python -m bench load [--runs 3] [--duration 3] [--concurrency 16] [--json]``.

On a local stack (PostgreSQL, moto for S3 and SQS), all on 127.0.0.1:

- **Container cold start**: Gunicorn with docker/gunicorn.conf.py and 2 Uvicorn workers,
  from spawn to the first 200 on ``/health``; the full app and a minimal FastAPI app take
  turns, ``--runs`` each.
- **Warm load**: the same Gunicorn, a fixed number of keep-alive connections for
  ``--duration`` seconds (after a warm-up), for ``/health``, an authenticated database read
  with an ETag (``GET /v1/files/{id}``), a presigned upload (``POST /v1/files``) and a job
  enqueue (``POST /v1/jobs``), and the hello world's JSON as the baseline. ``wrk`` drives it
  when on PATH, else the in-repo asyncio generator (bounded in count and time, 127.0.0.1
  only). With two CPUs or more the server is pinned to one (``taskset``), and the client,
  PostgreSQL and moto to another; the server's CPU time per request is measured from its
  processes, so capacity per vCPU does not depend on who was the bottleneck.
- **Lambda warm path**: the API handler (the bundle, the runtime's Python) in-process,
  per-invoke latency of the same endpoints, and the duration Lambda bills for each (scaled
  to the deployed memory's CPU share, then rounded up to 1 ms).

Keys of the JSON (other tools read them): ``pinning``, ``generator``, ``concurrency``,
``duration_s``, ``container_coldstart.{app,baseline}.{median_ms,min_ms,max_ms,runs_ms}``,
``container_coldstart.ratio``, ``scenarios[name]`` and ``lambda_warm[name]`` (see
``Scenario`` and ``LambdaWarm`` in ``bench.load.results``), names: hello (baseline), health,
read, job_read, presign, enqueue, and floor_read: the same-stack floor of ``read``
(``bench/floor_read.py``), with ``rps_ratio_to_floor`` and ``cpu_ratio_to_floor`` on ``read``
and ``job_read``.

This module runs the parts in order; each part is a module of this package:
``stack`` (the local stack and the app's configuration on it), ``scenarios`` (the apps, their
endpoints, cold start and warm load over them), ``measure`` (one endpoint under load),
``generator`` and ``wrk`` (load generation), ``wire`` (raw HTTP/1.1), ``servers`` (Gunicorn,
CPU pinning), ``results`` (the JSON's shapes and ratios) and ``lambda_warm`` (the handler
in-process, through ``bench.warm_invokes``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.load.lambda_warm import lambda_bundle, lambda_warm
from bench.load.results import LambdaWarm
from bench.load.scenarios import Step, container_coldstart, no_step, warm_load, write_hello
from bench.load.servers import Pinning
from bench.load.stack import local_stack


@dataclass(frozen=True)
class Options:
    runs: int = 3
    concurrency: int = 16
    duration_s: float = 3.0
    warmup_s: float = 1.0
    lambda_invokes: int = 300
    lambda_warmup: int = 30
    with_lambda: bool = True
    use_wrk: bool | None = None  # None: when wrk is on PATH

    def steps(self) -> int:
        # Cold starts (app, hello, app read, floor read), hello + 5 app scenarios + the floor,
        # the Lambda warm path.
        return 4 * self.runs + 7 + (1 if self.with_lambda else 0)


def run(
    options: Options,
    *,
    step: Step = no_step,
    database_url: str | None = None,
    aws_endpoint: str | None = None,
    lambda_runtime: tuple[Path, list[Path], str] | None = None,
) -> dict[str, Any]:
    """Everything above on one local stack; ``lambda_runtime`` (python, paths, version)
    replaces building the bundle (tests run the repo's own sources)."""
    pinning = Pinning.detect()
    use_wrk = shutil.which("wrk") is not None if options.use_wrk is None else options.use_wrk
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        workdir = Path(tmp)
        write_hello(workdir)
        with (
            pinning.client_side(),
            local_stack(workdir, database_url=database_url, aws_endpoint=aws_endpoint) as stack,
        ):
            coldstart = container_coldstart(stack, runs=options.runs, pinning=pinning, step=step)
            scenarios = warm_load(
                stack,
                concurrency=options.concurrency,
                duration_s=options.duration_s,
                warmup_s=options.warmup_s,
                pinning=pinning,
                use_wrk=use_wrk,
                step=step,
            )
            warm: dict[str, LambdaWarm] = {}
            python_version = None
            if options.with_lambda:
                python, paths, python_version = lambda_runtime or lambda_bundle(workdir)
                warm = lambda_warm(
                    stack,
                    python=python,
                    paths=paths,
                    invokes=options.lambda_invokes,
                    warmup=options.lambda_warmup,
                    pinning=pinning,
                )
                step("Lambda warm path")
    return {
        "pinning": pinning.describe(),
        "generator": "wrk" if use_wrk else "in-repo asyncio generator (uvloop), keep-alive",
        "concurrency": options.concurrency,
        "duration_s": options.duration_s,
        "warmup_s": options.warmup_s,
        "gunicorn": "docker/gunicorn.conf.py, 2 Uvicorn workers, MAX_REQUESTS=0, TARGET=fargate",
        "container_coldstart": coldstart,
        "scenarios": {name: asdict(scenario) for name, scenario in scenarios.items()},
        "lambda_warm": {name: asdict(value) for name, value in warm.items()},
        "lambda_python": python_version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench load", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--runs", type=int, default=3, help="container cold starts per app")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each")
    parser.add_argument("--lambda-invokes", type=int, default=300)
    parser.add_argument("--no-lambda", action="store_true", help="skip the Lambda warm path")
    parser.add_argument("--no-wrk", action="store_true", help="the in-repo generator even with wrk")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    options = Options(
        runs=args.runs,
        concurrency=args.concurrency,
        duration_s=args.duration,
        warmup_s=args.warmup,
        lambda_invokes=args.lambda_invokes,
        with_lambda=not args.no_lambda,
        use_wrk=False if args.no_wrk else None,
    )
    result = run(options)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        sys.stdout.write(render_text(result) + "\n")
    return 0


def render_text(result: dict[str, Any]) -> str:
    lines = [f"pinning: {result['pinning']}; generator: {result['generator']}"]
    cold = result["container_coldstart"]
    lines.append(
        f"container cold start: app {cold['app']['median_ms']} ms, "
        f"baseline {cold['baseline']['median_ms']} ms ({cold['ratio']}x); every worker's "
        f"first read: app {cold['app_read']['median_ms']} ms, floor "
        f"{cold['floor_read']['median_ms']} ms ({cold['read_ratio']}x)"
    )
    lines.append(f"{'scenario':10} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/req':>11}")
    for name, s in result["scenarios"].items():
        lines.append(
            f"{name:10} {s['rps']:>9} {s['p50_ms']:>8} {s['p99_ms']:>8} {s['server_cpu_ms']:>11}"
        )
    for name, w in result["lambda_warm"].items():
        lines.append(
            f"lambda {name:10} p50 {w['p50_ms']} ms, billed {w['billed_ms_mean']} ms"
            f" (each invoke x {w['cpu_scale']:.3f}, rounded up)"
        )
    return "\n".join(lines)
