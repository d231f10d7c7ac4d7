"""report.md and its charts from a results.json: ``python -m bench report [--results DIR]``.

``python -m bench all`` writes both; this re-renders a report (after a change to this file or
to the prices) from the latest bench/results/*/results.json, or ``--results DIR``. With
``--json`` it prints what it wrote and the summary table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.cost.inputs import MIX_ENDPOINTS, latest_results
from bench.cost.model import TARGETS

TARGET_NAMES = {"lambda": "Lambda", "fargate": "Fargate", "ec2": "EC2"}
COLORS = {"lambda": "#d9822b", "fargate": "#2b7bd9", "ec2": "#3a9a4a"}
CHARTS = ("cost.png", "coldstart.png", "latency.png")
SCENARIO_LABELS = {
    "hello": "FastAPI hello (baseline)",
    "health": "`GET /health`",
    "read": "`GET /v1/files/{id}` (auth, DB, ETag)",
    "job_read": "`GET /v1/jobs/{id}` (auth, DB, ETag)",
    "floor_read": "same-stack floor of the file read",
    "presign": "`POST /v1/files` (presign)",
    "enqueue": "`POST /v1/jobs` (enqueue)",
}


# --- numbers into words -----------------------------------------------------------------------


def usd(value: float) -> str:
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def rps_label(key: str) -> str:
    value = float(key)
    return f"{value:,.0f}" if value.is_integer() else key


def _ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = [":---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def crossover_text(cost: Mapping[str, Any]) -> list[str]:
    lines = []
    for target in ("fargate", "ec2"):
        rps = cost["crossover_rps"].get(target)
        name = TARGET_NAMES[target]
        if rps is None:
            lines.append(f"{name} never costs less than Lambda up to 1,000,000 RPS.")
        elif rps <= 1:
            lines.append(f"{name} costs less than Lambda already at 1 RPS.")
        else:
            lines.append(f"{name} costs less than Lambda from **{rps:,} RPS** on average.")
    return lines


def summary_table(results: Mapping[str, Any]) -> str:
    """Monthly cost per target at each RPS, the cheapest, then the crossovers."""
    cost = results["cost"]
    monthly = cost["monthly_usd"]
    rows = []
    for key in monthly["lambda"]:
        totals = {target: monthly[target][key] for target in TARGETS}
        cheapest = min(totals, key=lambda t: totals[t])
        rows.append(
            [rps_label(key)]
            + [usd(totals[target]) for target in TARGETS]
            + [TARGET_NAMES[cheapest]]
        )
    header = ["avg RPS", *(f"{TARGET_NAMES[t]} $/month" for t in TARGETS), "cheapest"]
    return _table(header, rows) + "\n\n" + " ".join(crossover_text(cost))


def which_target(results: Mapping[str, Any]) -> str:
    """The "Which target?" paragraph, from this run's numbers only."""
    cost = results["cost"]
    monthly = cost["monthly_usd"]
    assumptions = cost["assumptions"]
    keys = list(monthly["lambda"])
    low, high = keys[0], keys[-1]
    crossovers = {t: cost["crossover_rps"].get(t) for t in ("fargate", "ec2")}
    known = [rps for rps in crossovers.values() if rps is not None]
    parts: list[str] = []
    if known:
        first = min(known)
        first_target = min(
            (t for t, r in crossovers.items() if r is not None),
            key=lambda t: crossovers[t] or 0,
        )
        parts.append(
            f"**Below about {first:,} requests per second on average, pick Lambda**: at "
            f"{rps_label(low)} RPS it costs {usd(monthly['lambda'][low])} a month against "
            f"{usd(monthly['fargate'][low])} for Fargate and {usd(monthly['ec2'][low])} for "
            "EC2, because containers pay for at least two tasks or instances and a load "
            f"balancer whether requests come or not. From {first:,} RPS "
            f"{TARGET_NAMES[first_target]} is cheaper"
        )
        other = "ec2" if first_target == "fargate" else "fargate"
        if crossovers[other] is not None:
            parts[-1] += f", and {TARGET_NAMES[other]} from {crossovers[other]:,} RPS."
        else:
            parts[-1] += "."
    else:
        parts.append(
            "**Lambda is the cheapest at every rate modelled here** (up to 1,000,000 RPS)."
        )
    top = {t: monthly[t][high] for t in TARGETS}
    cheapest = min(top, key=lambda t: top[t])
    parts.append(
        f"At {rps_label(high)} RPS the monthly bills are "
        + ", ".join(f"{TARGET_NAMES[t]} {usd(top[t])}" for t in TARGETS)
        + f": {TARGET_NAMES[cheapest]} saves "
        f"{(1 - top[cheapest] / max(top.values())) * 100:.0f}% against the dearest."
    )
    coldstart = results.get("coldstart") or {}
    load = results.get("load") or {}
    if coldstart:
        total = coldstart["app_init_ms"] + coldstart["app_first_invoke_ms"]
        rate = assumptions["cold_start_rate"]["value"]
        parts.append(
            f"On feel: a Lambda cold start of the full app took {_ms(total)} ms here "
            f"({coldstart['ratio']}x the FastAPI + Mangum floor) and its first database "
            f"request {_ms(coldstart['app_db_first_request_ms'])} ms; the model assumes "
            f"{rate * 100:g}% of invokes are cold."
        )
    warm = load.get("lambda_warm") or {}
    scenarios = load.get("scenarios") or {}
    if warm.get("read") and scenarios.get("read"):
        read = scenarios["read"]
        parts.append(
            f"Warm, the Lambda handler serves an authenticated read in "
            f"{_ms(warm['read']['p50_ms'])} ms (p50, in-process, one at a time). The same read "
            f"costs a container {read['server_cpu_ms']:.2f} ms of CPU, about "
            f"{1000 / read['server_cpu_ms']:,.0f} per second per vCPU; at that saturation "
            f"({load['concurrency']} connections on one core) Gunicorn answered in "
            f"{_ms(read['p50_ms'])} ms p50 and {_ms(read['p99_ms'])} ms p99, which is queueing: "
            "autoscaling at the CPU target keeps containers well below it."
        )
    container = load.get("container_coldstart")
    if container:
        parts.append(
            "Containers keep cold starts off the request path, but each scale-out waits for "
            f"a new task: Gunicorn alone needed {_ms(container['app']['median_ms'])} ms to its "
            "first 200 here, on top of the platform's own provisioning and image pull."
        )
    parts.append(
        "Spiky or mostly idle traffic favours Lambda beyond these averages (containers are "
        f"sized for a peak of {assumptions['peak_ratio']['value']:g}x the average); steady "
        "high traffic favours containers, and EC2 only when you accept managing instances."
    )
    return " ".join(parts)


# --- charts -----------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def cost_chart(results: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    cost = results["cost"]
    curve = results.get("cost_curve") or {
        "rps": [float(k) for k in cost["monthly_usd"]["lambda"]],
        **{t: list(cost["monthly_usd"][t].values()) for t in TARGETS},
    }
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for target in TARGETS:
        axes.plot(
            curve["rps"], curve[target], label=TARGET_NAMES[target], color=COLORS[target], lw=1.8
        )
    for target, rps in cost["crossover_rps"].items():
        if rps is None:
            continue
        at = _interpolate(curve["rps"], curve[target], rps)
        axes.axvline(rps, color=COLORS[target], ls=":", lw=1)
        axes.plot([rps], [at], "o", color=COLORS[target], ms=5)
        axes.annotate(
            f"{TARGET_NAMES[target]} < Lambda\nfrom {rps:,} RPS",
            (rps, at),
            textcoords="offset points",
            xytext=(8, -30) if target == "ec2" else (-100, 22),
            fontsize=8,
            color=COLORS[target],
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("average requests per second")
    axes.set_ylabel("USD per month (us-east-1, on demand)")
    axes.set_title("Monthly cost per target, everything its deployment creates")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _interpolate(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """Log-log interpolation of ``ys`` at ``x`` (the chart's own scale)."""
    for (x0, y0), (x1, y1) in itertools.pairwise(zip(xs, ys, strict=True)):
        if x0 <= x <= x1 and x0 > 0 and y0 > 0 and y1 > 0:
            t = (math.log(x) - math.log(x0)) / ((math.log(x1) - math.log(x0)) or 1)
            return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))
    return ys[-1]


def coldstart_chart(results: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    bars: list[tuple[str, list[float], str]] = []
    coldstart = results.get("coldstart") or {}
    if coldstart:
        app_runs = list(coldstart.get("app_total_runs_ms") or [])
        base_runs = list(coldstart.get("baseline_total_runs_ms") or [])
        app_runs = app_runs or [coldstart["app_init_ms"] + coldstart["app_first_invoke_ms"]]
        base_runs = base_runs or [
            coldstart["baseline_init_ms"] + coldstart["baseline_first_invoke_ms"]
        ]
        bars += [
            ("Lambda\nfull app", app_runs, COLORS["lambda"]),
            ("Lambda\nFastAPI+Mangum", base_runs, "#f0b27a"),
        ]
    container = (results.get("load") or {}).get("container_coldstart")
    if container:
        bars += [
            ("Gunicorn\nfull app", container["app"]["runs_ms"], COLORS["fargate"]),
            ("Gunicorn\nFastAPI hello", container["baseline"]["runs_ms"], "#8fb8ea"),
        ]
    figure, axes = plt.subplots(figsize=(7, 3.8))
    if bars:
        import statistics

        medians = [statistics.median(runs) for _, runs, _ in bars]
        low = [m - min(runs) for m, (_, runs, _) in zip(medians, bars, strict=True)]
        high = [max(runs) - m for m, (_, runs, _) in zip(medians, bars, strict=True)]
        positions = range(len(bars))
        axes.bar(
            positions,
            medians,
            yerr=[low, high],
            capsize=4,
            color=[color for _, _, color in bars],
        )
        for x, median in zip(positions, medians, strict=True):
            axes.annotate(
                f"{median:,.0f} ms", (x, median), ha="center", va="bottom", fontsize=8,
                textcoords="offset points", xytext=(0, 3),
            )  # fmt: skip
        axes.set_xticks(list(positions), [label for label, _, _ in bars])
    axes.set_ylabel("ms to the first 200 on /health")
    axes.set_title("Cold start: median, bars from min to max over the runs")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def latency_chart(results: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    load = results.get("load") or {}
    scenarios = load.get("scenarios") or {}
    warm = load.get("lambda_warm") or {}
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3.8), width_ratios=(5, 4))
    for axes, data, title in (
        (left, scenarios, f"Gunicorn, 2 workers, {load.get('concurrency', '?')} connections"),
        (right, warm, "Lambda handler, in-process, per invoke"),
    ):
        names = list(data)
        width = 0.26
        for offset, (key, shade) in enumerate((("p50_ms", 1.0), ("p90_ms", 0.7), ("p99_ms", 0.45))):
            axes.bar(
                [i + (offset - 1) * width for i in range(len(names))],
                [data[name][key] for name in names],
                width,
                label=key.removesuffix("_ms"),
                color=(0.17, 0.48, 0.85, shade) if axes is left else (0.85, 0.51, 0.17, shade),
            )
        axes.set_xticks(range(len(names)), names)
        axes.set_yscale("log")
        axes.set_ylabel("ms")
        axes.set_title(title, fontsize=9)
        axes.legend(fontsize=8)
    figure.suptitle("Latency percentiles (log scale)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# --- report.md --------------------------------------------------------------------------------


def _coldstart_section(results: Mapping[str, Any]) -> list[str]:
    out = ["## Cold start", ""]
    coldstart = results.get("coldstart")
    if coldstart:
        out += [
            "Lambda, through the local emulator (Runtime API + `awslambdaric`, the bundle "
            "with its precompiled bytecode, the runtime's Python), fresh process per run, one "
            "`GET /health`; medians:",
            "",
            _table(
                ["function", "init ms", "first invoke ms", "total ms"],
                [
                    [
                        "full app (`handlers.api`)",
                        _ms(coldstart["app_init_ms"]),
                        _ms(coldstart["app_first_invoke_ms"]),
                        _ms(coldstart["app_init_ms"] + coldstart["app_first_invoke_ms"]),
                    ],
                    [
                        "FastAPI + Mangum hello (baseline)",
                        _ms(coldstart["baseline_init_ms"]),
                        _ms(coldstart["baseline_first_invoke_ms"]),
                        _ms(coldstart["baseline_init_ms"] + coldstart["baseline_first_invoke_ms"]),
                    ],
                ],
            ),
            "",
            f"Ratio full / baseline: **{coldstart['ratio']}x**. Init + first authenticated "
            f"database read (connect with an IAM token, query): "
            f"{_ms(coldstart['app_db_first_request_ms'])} ms. Bundle {coldstart['bundle_mb']} MB"
            f" unzipped; warm `/health` invoke p50 {coldstart['warm_invoke_p50_us']} µs.",
            "",
        ]
    container = (results.get("load") or {}).get("container_coldstart")
    if container:
        rows = [
            [label, _ms(data["median_ms"]), _ms(data["min_ms"]), _ms(data["max_ms"])]
            for label, data in (
                ("full app", container["app"]),
                ("FastAPI hello (baseline)", container["baseline"]),
            )
        ]
        out += [
            "Containers: Gunicorn with `docker/gunicorn.conf.py` (2 Uvicorn workers), spawn to "
            "the first 200 on `/health`:",
            "",
            _table(["app", "median ms", "min ms", "max ms"], rows),
            "",
            f"Ratio full / baseline: **{container['ratio']}x**. On AWS a scale-out adds the "
            "task or instance provisioning and the image pull (`python -m bench remote`).",
            "",
        ]
    return [*out, "![Cold start](coldstart.png)", ""]


# The first recorded floor_read ÷ hello: a floor is a fixed reference, so a later run outside
# ±10 % of it says the floor (or the machine) changed, not the app.
FLOORS_FILE = Path(__file__).with_name("floors.toml")
FLOOR_DRIFT_LIMIT = 0.10


def floor_drift(results: Mapping[str, Any]) -> tuple[float, dict[str, Any] | None, bool]:
    """(floor_read ÷ hello of this run, the first recorded one or None, within the limit)."""
    ratio = float(results["load"]["scenarios"]["floor_read"]["rps_ratio_to_baseline"])
    if not FLOORS_FILE.exists():
        return ratio, None, True
    first: dict[str, Any] = tomllib.loads(FLOORS_FILE.read_text())["floor_read"]
    reference = float(first["rps_ratio_to_hello"])
    return ratio, first, abs(ratio / reference - 1) <= FLOOR_DRIFT_LIMIT


def _floors_section(results: Mapping[str, Any]) -> list[str]:
    load = results.get("load") or {}
    scenarios = load.get("scenarios") or {}
    coldstart = results.get("coldstart") or {}
    container = load.get("container_coldstart") or {}
    if "floor_read" not in scenarios:
        return []
    out = [
        "## Floors",
        "",
        "Each figure is a ratio to a floor measured in the same run: the FastAPI hello world, "
        "and same-stack floors, minimal apps doing the measured route's work with the same "
        "libraries, settings pinned in their source and never dressed with the app's extras. "
        "`bench/floor_read.py` (containers): PyJWT HS256 with the app's claims, one async "
        "SQLAlchemy ORM `session.get` on `files`, the owner check, a pydantic model, one "
        "session per request, pool 10 + 0, under the same Gunicorn config. "
        "`bench/floor_lambda.py` (Lambda): FastAPI + Mangum, the same token check, one "
        "`session.get` on `users` over asyncpg with an RDS IAM token as the password, pool "
        "1 + 0, bundled like the app.",
        "",
    ]
    read, job, health, floor = (
        scenarios.get(k) for k in ("read", "job_read", "health", "floor_read")
    )
    rows = []
    for label, scenario in (("file read", read), ("job read", job)):
        if scenario and scenario.get("rps_ratio_to_floor") is not None:
            rows.append([f"{label}: RPS ÷ floor", f"{scenario['rps_ratio_to_floor']}", "≥ 0.8"])
            rows.append(
                [f"{label}: server CPU ms ÷ floor", f"{scenario['cpu_ratio_to_floor']}", "≤ 1.25"]
            )
    if read:
        tail = read["p99_ms"] / read["p50_ms"] if read["p50_ms"] else math.nan
        rows.append(["file read: p99 ÷ p50", f"{tail:.2f}", "≤ 2"])
        rows.append(["file read: connections opened while measured", f"{read['connects']}", "0"])
    if health:
        rows.append(["`/health` RPS ÷ hello", f"{health['rps_ratio_to_baseline']}", "≥ 0.7"])
    if "read_ratio" in container:
        rows.append(
            [
                "Gunicorn spawn → every worker's first read ÷ floor",
                f"{container['read_ratio']}",
                "≤ 1.3",
            ]
        )
    if "db_first_ratio" in coldstart:
        rows += [
            [
                "Lambda init + first authenticated read ÷ floor",
                f"{coldstart['db_first_ratio']}",
                "≤ 1.2",
            ],
            ["Lambda warm read invoke ÷ floor", f"{coldstart['warm_read_ratio']}", "≤ 1.25"],
            ["Lambda `/health` cold start ÷ hello", f"{coldstart['ratio']}", "≤ 1.3"],
        ]
    out += [_table(["figure", "this run", "goal"], rows), ""]
    if "floor_db_first_request_ms" in coldstart:
        out += [
            f"Lambda absolute (recorded only): app {_ms(coldstart['app_db_first_request_ms'])} "
            f"ms, floor {_ms(coldstart['floor_db_first_request_ms'])} ms to the first "
            f"authenticated read; warm read p50 app {coldstart['app_warm_read_p50_us']} µs, "
            f"floor {coldstart['floor_warm_read_p50_us']} µs. With SnapStart's hooks (warm-up "
            f"before the snapshot, restore): init {_ms(coldstart['snapstart_init_ms'])} ms, "
            f"then the first authenticated read {_ms(coldstart['snapstart_first_read_ms'])} ms.",
            "",
        ]
    ratio, first, within = floor_drift(results)
    if first is None:
        drift = f"floor_read ÷ hello: {ratio} (no first value recorded in `bench/floors.toml`)."
    else:
        verdict = (
            "within ±10 %"
            if within
            else "**outside ±10 %: the floor or the machine changed; ratios to it are suspect**"
        )
        drift = (
            f"floor_read ÷ hello: {ratio}; first recorded {first['rps_ratio_to_hello']} "
            f"({first['recorded']}, {first['commit']}): {verdict}."
        )
    floor_cpu = floor["server_cpu_ms"] if floor else math.nan
    out += [drift + f" Floor server CPU {floor_cpu:.2f} ms per read.", ""]
    return out


def _load_section(results: Mapping[str, Any]) -> list[str]:
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
                _ms(s["p50_ms"]),
                _ms(s["p90_ms"]),
                _ms(s["p99_ms"]),
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
        _table(
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
            "stack; billed = each invoke rounded up to 1 ms, averaged. S3 and SQS are moto "
            "here (a Python server on the other core): the enqueue time is mostly moto's. "
            "Lambda runs a 1024 MB function on about 0.58 vCPU, so the cost model scales "
            "these times by 1769 / memory.",
            "",
            _table(
                ["endpoint", "p50 ms", "p90 ms", "p99 ms", "mean ms", "billed ms", "log B/invoke"],
                [
                    [
                        SCENARIO_LABELS.get(name, name),
                        _ms(w["p50_ms"]),
                        _ms(w["p90_ms"]),
                        _ms(w["p99_ms"]),
                        _ms(w["mean_ms"]),
                        _ms(w["billed_ms_mean"]),
                        f"{w['log_bytes']:.0f}",
                    ]
                    for name, w in warm.items()
                ],
            ),
            "",
        ]
    return [*out, "![Latency percentiles](latency.png)", ""]


def _worker_section(results: Mapping[str, Any]) -> list[str]:
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
    ]


def _cost_section(results: Mapping[str, Any]) -> list[str]:
    cost = results["cost"]
    out = [
        "## Cost per target",
        "",
        "Everything each deployment creates (its stack plus Trident-Shared: VPC with NAT "
        "gateway, RDS, S3, SQS, secrets, logs), us-east-1 on-demand prices from "
        "`bench/prices.toml`, 730 hours a month, no free tier. Containers are sized for the "
        "peak; Lambda pays per request.",
        "",
        summary_table(results),
        "",
        "![Cost per target](cost.png)",
        "",
    ]
    for target in TARGETS:
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
            _table(["item", *(f"{rps_label(k)} RPS" for k in keys)], rows),
            "",
        ]
    sizing = cost.get("sizing") or {}
    if sizing:
        out += [
            "Sizing for the peak: "
            + "; ".join(
                f"{rps_label(k)} RPS: {v['fargate_web_tasks']} web + "
                f"{v['fargate_worker_tasks']} worker Fargate tasks, {v['ec2_instances']} "
                "instances"
                for k, v in sizing.items()
            )
            + ".",
            "",
        ]
    assumptions = cost["assumptions"]
    rows = [
        [f"`{name}`", _value(a["value"]), a["source"], a["note"]] for name, a in assumptions.items()
    ]
    out += [
        "### Inputs",
        "",
        "Measured ones come from this run (weighted by the request mix "
        + ", ".join(f"{n} {assumptions[f'mix_{n}']['value']:g}" for n in MIX_ENDPOINTS)
        + "); `python -m bench cost --set NAME=VALUE` changes any of them.",
        "",
        _table(["input", "value", "source", "note"], rows, align="lrll"),
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


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list):
        return ", ".join(f"{v:g}" for v in value)
    return str(value)


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
    lines += _coldstart_section(results)
    lines += _load_section(results)
    lines += _floors_section(results)
    lines += _worker_section(results)
    lines += _cost_section(results)
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
