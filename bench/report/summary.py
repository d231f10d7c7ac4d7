"""The report's verdict: monthly cost per target at each RPS, the crossovers, and the "Which
target?" paragraph, from one run's numbers only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.cost.model import TARGETS
from bench.report.text import TARGET_NAMES, markdown_table, ms, rps_label, usd


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
    return markdown_table(header, rows) + "\n\n" + " ".join(crossover_text(cost))


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
            f"On feel: a Lambda cold start of the full app took {ms(total)} ms here "
            f"({coldstart['ratio']}x the FastAPI + Mangum floor) and its first database "
            f"request {ms(coldstart['app_db_first_request_ms'])} ms; the model assumes "
            f"{rate * 100:g}% of invokes are cold."
        )
    warm = load.get("lambda_warm") or {}
    scenarios = load.get("scenarios") or {}
    if warm.get("read") and scenarios.get("read"):
        read = scenarios["read"]
        parts.append(
            f"Warm, the Lambda handler serves an authenticated read in "
            f"{ms(warm['read']['p50_ms'])} ms (p50, in-process, one at a time). The same read "
            f"costs a container {read['server_cpu_ms']:.2f} ms of CPU, about "
            f"{1000 / read['server_cpu_ms']:,.0f} per second per vCPU; at that saturation "
            f"({load['concurrency']} connections on one core) Gunicorn answered in "
            f"{ms(read['p50_ms'])} ms p50 and {ms(read['p99_ms'])} ms p99, which is queueing: "
            "autoscaling at the CPU target keeps containers well below it."
        )
    container = load.get("container_coldstart")
    if container:
        parts.append(
            "Containers keep cold starts off the request path, but each scale-out waits for "
            f"a new task: Gunicorn alone needed {ms(container['app']['median_ms'])} ms to its "
            "first 200 here, on top of the platform's own provisioning and image pull."
        )
    parts.append(
        "Spiky or mostly idle traffic favours Lambda beyond these averages (containers are "
        f"sized for a peak of {assumptions['peak_ratio']['value']:g}x the average); steady "
        "high traffic favours containers, and EC2 only when you accept managing instances."
    )
    return " ".join(parts)
