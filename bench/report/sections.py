"""The report's measurement and cost sections, each a list of Markdown lines (empty when the
run has no such stage)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.cost.inputs import MIX_ENDPOINTS
from bench.cost.model import TARGETS
from bench.report.summary import sensitivity_table, summary_table
from bench.report.text import (
    SCENARIO_LABELS,
    TARGET_NAMES,
    markdown_table,
    ms,
    rps_label,
    value_text,
)


def coldstart_section(results: Mapping[str, Any]) -> list[str]:
    out = ["## Cold start", ""]
    coldstart = results.get("coldstart")
    if coldstart:
        out += [
            "Lambda, through the local emulator (Runtime API + `awslambdaric`, the bundle "
            "with its precompiled bytecode, the runtime's Python), fresh process per run, one "
            "`GET /health`; medians:",
            "",
            markdown_table(
                ["function", "init ms", "first invoke ms", "total ms"],
                [
                    [
                        "full app (`handlers.api`)",
                        ms(coldstart["app_init_ms"]),
                        ms(coldstart["app_first_invoke_ms"]),
                        ms(coldstart["app_init_ms"] + coldstart["app_first_invoke_ms"]),
                    ],
                    [
                        "FastAPI + Mangum hello (baseline)",
                        ms(coldstart["baseline_init_ms"]),
                        ms(coldstart["baseline_first_invoke_ms"]),
                        ms(coldstart["baseline_init_ms"] + coldstart["baseline_first_invoke_ms"]),
                    ],
                ],
            ),
            "",
            f"Ratio full / baseline: **{coldstart['ratio']}x**. Init + first authenticated "
            f"database read (connect with an IAM token, query): "
            f"{ms(coldstart['app_db_first_request_ms'])} ms. Bundle {coldstart['bundle_mb']} MB"
            f" unzipped; warm `/health` invoke p50 {coldstart['warm_invoke_p50_us']} µs.",
            "",
        ]
    container = (results.get("load") or {}).get("container_coldstart")
    if container:
        rows = [
            [label, ms(data["median_ms"]), ms(data["min_ms"]), ms(data["max_ms"])]
            for label, data in (
                ("full app", container["app"]),
                ("FastAPI hello (baseline)", container["baseline"]),
            )
        ]
        out += [
            "Containers: Gunicorn with `docker/gunicorn.conf.py` (2 Uvicorn workers), spawn to "
            "the first 200 on `/health`:",
            "",
            markdown_table(["app", "median ms", "min ms", "max ms"], rows),
            "",
            f"Ratio full / baseline: **{container['ratio']}x**. On AWS a scale-out adds the "
            "task or instance provisioning and the image pull (`python -m bench remote`).",
            "",
        ]
    return [*out, "![Cold start](coldstart.png)", ""]


def worker_section(results: Mapping[str, Any]) -> list[str]:
    worker = results.get("worker")
    if not worker:
        return []
    return [
        "## Jobs worker",
        "",
        f"{worker['messages']} messages from moto SQS, concurrency {worker['concurrency']}, "
        f"median of {worker['rounds']}: the worker (claim, run a no-op job, record it in "
        f"PostgreSQL) {worker['worker_msgs_per_s']} jobs/s against a raw boto3 receive/delete "
        f"loop's {worker['raw_msgs_per_s']} messages/s: overhead **{worker['ratio']}x**.",
        "",
        *_jobs_lines(worker.get("jobs") or {}),
    ]


def _jobs_lines(jobs: Mapping[str, Any]) -> list[str]:
    if not jobs:
        return []
    return [
        "Real jobs through `python -m app.worker` (one at a time; S3 and SQS are moto): wall "
        "time from claim to recorded result, and the worker process's CPU per job (receive "
        "to delete). The cost model weighs them by the mix into `job_duration_ms` and "
        "`job_cpu_ms`.",
        "",
        markdown_table(
            ["job", "jobs", "mean ms", "p50 ms", "max ms", "worker CPU ms/job"],
            [
                [
                    f"{kind} ({job['what']})",
                    str(job["jobs"]),
                    ms(job["duration_ms_mean"]),
                    ms(job["duration_ms_p50"]),
                    ms(job["duration_ms_max"]),
                    ms(job["cpu_ms_mean"]),
                ]
                for kind, job in jobs.items()
            ],
        ),
        "",
    ]


def load_section(results: Mapping[str, Any]) -> list[str]:
    load = results.get("load")
    if not load:
        return []
    scenarios = load["scenarios"]
    rows = []
    for name, s in scenarios.items():
        rows.append(
            [
                SCENARIO_LABELS.get(name, name),
                f"{s['rps']:,.0f}",
                ms(s["p50_ms"]),
                ms(s["p90_ms"]),
                ms(s["p99_ms"]),
                "1" if name == "hello" else f"{s['rps_ratio_to_baseline']}",
                "1" if name == "hello" else f"{s['p50_ratio_to_baseline']}",
                f"{s['server_cpu_ms']:.2f}",
                str(s["errors"]),
            ]
        )
    out = [
        "## Warm load",
        "",
        f"Gunicorn ({load['gunicorn']}) on the local stack (PostgreSQL, moto for S3 and "
        f"SQS); {load['concurrency']} keep-alive connections, {load['duration_s']:g} s per "
        f"endpoint after {load['warmup_s']:g} s of warm-up; generator: {load['generator']}. "
        f"Pinning: {load['pinning']}. Server CPU per request is the Gunicorn processes' own CPU "
        "time divided by the requests served: what sizes Fargate tasks and EC2 instances in "
        "the cost model.",
        "",
        markdown_table(
            [
                "endpoint",
                "RPS",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "RPS / hello",
                "p50 / hello",
                "server CPU ms/req",
                "errors",
            ],
            rows,
        ),
        "",
    ]
    warm = load.get("lambda_warm") or {}
    if warm:
        out += [
            f"Lambda warm path: the API handler in-process (the bundle on Python "
            f"{load.get('lambda_python') or '?'}), one invoke at a time, against the same "
            "stack. S3 and SQS are moto here (a Python server on the other core): the "
            "enqueue time is mostly moto's. Lambda runs a 1024 MB function on about 0.58 vCPU, "
            "so the cost model scales these times by 1769 / memory; billed = each invoke's "
            "scaled time rounded up to 1 ms, averaged (what the model charges per invoke).",
            "",
            markdown_table(
                ["endpoint", "p50 ms", "p90 ms", "p99 ms", "mean ms", "billed ms", "log B/invoke"],
                [
                    [
                        SCENARIO_LABELS.get(name, name),
                        ms(w["p50_ms"]),
                        ms(w["p90_ms"]),
                        ms(w["p99_ms"]),
                        ms(w["mean_ms"]),
                        ms(w["billed_ms_mean"]),
                        f"{w['log_bytes']:.0f}",
                    ]
                    for name, w in warm.items()
                ],
            ),
            "",
        ]
    return [*out, "![Latency percentiles](latency.png)", ""]


def cost_section(results: Mapping[str, Any]) -> list[str]:
    cost = results["cost"]
    out = [
        "## Cost per target",
        "",
        "Everything each deployment creates (its stack plus Trident-Shared: VPC with NAT "
        "gateway, RDS, S3, SQS, secrets, logs), us-east-1 on-demand prices from "
        "`bench/prices.toml`, 730 hours a month, no free tier. Containers and Lambda Managed "
        "Instances are sized for the peak; Lambda pays per request.",
        "",
        summary_table(results),
        "",
        "![Cost per target](cost.png)",
        "",
    ]
    if table := sensitivity_table(results):
        out += [
            "### What the crossovers hang on",
            "",
            "Each row changes one assumption and keeps the rest; the crossover is the lowest "
            "average RPS at which that target costs less than Lambda.",
            "",
            table,
            "",
        ]
    for target in (t for t in TARGETS if t in cost["line_items"]):
        items = cost["line_items"][target]
        keys = list(items)
        names = list(next(iter(items.values())))
        rows = [
            [f"`{name}`", *(f"{items[k][name]:,.2f}" for k in keys)]
            for name in names
        ]  # fmt: skip
        rows.append(["**total**", *(f"**{cost['monthly_usd'][target][k]:,.2f}**" for k in keys)])
        out += [
            f"### {TARGET_NAMES[target]}: line items, USD per month",
            "",
            markdown_table(["item", *(f"{rps_label(k)} RPS" for k in keys)], rows),
            "",
        ]
    sizing = cost.get("sizing") or {}
    if sizing:
        out += [
            "Sizing for the peak: "
            + "; ".join(
                f"{rps_label(k)} RPS: {v['fargate_web_tasks']} web + "
                f"{v['fargate_worker_tasks']} worker Fargate tasks, {v['ec2_instances']} "
                "instances" + _managed_sizing(v)
                for k, v in sizing.items()
            )
            + ".",
            "",
        ]
    assumptions = cost["assumptions"]
    rows = [
        [f"`{name}`", value_text(a["value"]), a["source"], a["note"]]
        for name, a in assumptions.items()
    ]
    out += [
        "### Inputs",
        "",
        "Measured ones come from this run (weighted by the request mix "
        + ", ".join(f"{n} {assumptions[f'mix_{n}']['value']:g}" for n in MIX_ENDPOINTS)
        + "); `python -m bench cost --set NAME=VALUE` changes any of them.",
        "",
        markdown_table(["input", "value", "source", "note"], rows, align="lrll"),
        "",
    ]
    unverified = [name for name, p in cost["prices"].items() if p["checked"] == "unverified"]
    out += ["### Limits of the model", ""]
    out += [f"- {note}" for note in cost["notes"]]
    if unverified:
        out.append(
            "- Prices not re-checked when bench/prices.toml was written (no internet there; "
            "AWS list prices as last known): " + ", ".join(f"`{n}`" for n in unverified) + "."
        )
    return [*out, ""]


def _managed_sizing(sizing: Mapping[str, Any]) -> str:
    """Lambda Managed Instances' share of a sizing line (none in older results)."""
    if "lambda_mi_instances" not in sizing:
        return ""
    return (
        f", {sizing['lambda_mi_environments']} Lambda Managed Instances environments on "
        f"{sizing['lambda_mi_instances']} instances"
    )
