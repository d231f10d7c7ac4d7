"""The report's verdict: monthly cost per target at each RPS, the crossovers, and the "Which
target?" paragraph, from one run's numbers only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.cost.model import TARGETS
from bench.report.text import TARGET_NAMES, markdown_table, ms, rps_label, usd

CONTAINERS = ("fargate", "ec2")
COMPARED = ("lambda_mi", *CONTAINERS)  # each against Lambda (on demand)
PROFILE_TITLES = {
    "default": "What `cdk deploy` creates (profile `default`: one NAT gateway, one task or "
    "instance at least, a single-AZ database)",
    "ha": "Production (`-c profile=ha`: two NAT gateways, a Multi-AZ database, two tasks, "
    "workers and instances at least)",
}


def crossover_text(view: Mapping[str, Any]) -> list[str]:
    """The crossovers of one profile, behind CloudFront and on a direct ALB."""
    lines = []
    for target in (t for t in COMPARED if t in view["crossover_rps"]):
        name = TARGET_NAMES[target]
        at = view["crossover_rps"][target]
        if target not in CONTAINERS:  # no ALB: one front door
            lines.append(
                f"{name} cost less than Lambda from **{at:,} RPS**."
                if at is not None
                else f"{name} never cost less than Lambda up to 1,000,000 RPS."
            )
            continue
        direct = (view.get("crossover_rps_direct_alb") or {}).get(target)
        if at is None:
            text = f"{name} never costs less than Lambda behind CloudFront up to 1,000,000 RPS"
        else:
            text = f"{name} costs less than Lambda from **{at:,} RPS** behind CloudFront"
        if "crossover_rps_direct_alb" in view:
            text += (
                f", from **{direct:,} RPS** with a domain on its ALB"
                if direct is not None
                else ", never with a domain on its ALB"
            )
        lines.append(text + ".")
    return lines


def _limits_cell(view: Mapping[str, Any], rps: float) -> str:
    hits = [w for w in view.get("warnings") or () if float(w["rps"]) == rps]
    return "; ".join(f"⚠ {TARGET_NAMES[w['target']]}: {w['limit']} (`{w['knob']}`)" for w in hits)


def _profile_table(view: Mapping[str, Any]) -> str:
    monthly, direct = view["monthly_usd"], view.get("monthly_usd_direct_alb")
    lambdas = [t for t in ("lambda", "lambda_mi") if t in monthly]
    rows = []
    for key in monthly["lambda"]:
        options = {TARGET_NAMES[t]: monthly[t][key] for t in lambdas}
        for target in CONTAINERS:
            name = TARGET_NAMES[target]
            options[f"{name} (CloudFront)" if direct else name] = monthly[target][key]
            if direct:
                options[f"{name} (ALB)"] = direct[target][key]
        cheapest = min(options, key=lambda option: options[option])
        row = [rps_label(key), *(usd(v) for v in options.values()), cheapest]
        rows.append([*row, _limits_cell(view, float(key)) or "—"])
    header = ["avg RPS", *(f"{TARGET_NAMES[t]} $/month" for t in lambdas)]
    for target in CONTAINERS:
        name = TARGET_NAMES[target]
        header += [f"{name} CloudFront", f"{name} direct ALB"] if direct else [name]
    header += ["cheapest", "limits the stack would hit at the peak"]
    align = "l" + "r" * (len(header) - 2) + "l"
    return markdown_table(header, rows, align)


def summary_table(results: Mapping[str, Any]) -> str:
    """Monthly cost per target at each RPS, in both front-door modes, with the limits each
    column hits, then the crossovers: for each deployment profile."""
    cost = results["cost"]
    profiles = cost.get("profiles") or {"default": cost}
    parts = []
    if len(profiles) > 1 or "monthly_usd_direct_alb" in cost:
        parts.append(
            "Containers: *CloudFront* is what a deploy without a domain creates (CloudFront "
            "gives HTTPS in front of an internal ALB); *direct ALB* is the ALB serving your "
            "domain's certificate itself (`-c fargate_domain_name=… -c "
            "fargate_certificate_arn=…`, likewise `ec2_…`). Limits are those of each "
            "profile's stack at the peak (the average times the peak ratio); the cost is priced "
            "as if each were lifted."
        )
    for name, view in profiles.items():
        if len(profiles) > 1:
            parts.append(f"**{PROFILE_TITLES.get(name, name)}**")
        parts.append(_profile_table(view))
        parts.append(" ".join(crossover_text(view)))
    return "\n\n".join(parts)


def sensitivity_table(results: Mapping[str, Any]) -> str:
    """How the crossovers move with one assumption at a time (empty for older results)."""
    rows = results["cost"].get("sensitivity") or []
    if not rows:
        return ""
    targets = [t for t in COMPARED if t in rows[0]["crossover_rps"]]
    header = ["input", "value"]
    header += [
        f"{TARGET_NAMES[t]} from" + (" (CloudFront / ALB)" if t in CONTAINERS else "")
        for t in targets
    ]
    body = []
    for row in rows:
        value = f"**{row['value']:g}** (used)" if row["base"] else f"{row['value']:g}"
        cells = []
        for target in targets:
            at = _rps(row["crossover_rps"][target])
            if target in CONTAINERS:
                at += f" / {_rps(row['crossover_rps_direct_alb'][target])}"
            cells.append(at)
        body.append([f"`{row['input']}`", value, *cells])
    return markdown_table(header, body)


def _rps(value: int | None) -> str:
    return "never" if value is None else f"{value:,}"


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
            f"EC2 behind CloudFront, because containers pay for at least "
            f"{_count(assumptions, 'min_tasks', 'task')} or "
            f"{_count(assumptions, 'min_instances', 'instance')} and a load balancer whether "
            f"requests come or not. From {first:,} RPS {TARGET_NAMES[first_target]} is cheaper"
        )
        other = "ec2" if first_target == "fargate" else "fargate"
        if crossovers[other] is not None:
            parts[-1] += f", and {TARGET_NAMES[other]} from {crossovers[other]:,} RPS."
        else:
            parts[-1] += "."
        direct = [r for r in (cost.get("crossover_rps_direct_alb") or {}).values() if r]
        if direct:
            parts.append(
                "With your own domain and certificate on the ALB instead of CloudFront, "
                f"containers are cheaper from {min(direct):,} RPS: at high rates CloudFront's "
                "per-request price is most of a container bill."
            )
    limited = sorted({w["target"] for w in cost.get("warnings") or ()})
    if limited:
        parts.append(
            "The default stack would not take every load priced here as it stands: "
            + ", ".join(TARGET_NAMES[t] for t in limited)
            + " hit limits the summary names beside each row, each with the knob that "
            "lifts it."
        )
    else:
        parts.append(
            "**Lambda is the cheapest at every rate modelled here** (up to 1,000,000 RPS)."
        )
    if "lambda_mi" in monthly:
        parts.append(managed_instances_text(cost))
    top = {t: monthly[t][high] for t in TARGETS if t in monthly}
    cheapest = min(top, key=lambda t: top[t])
    parts.append(
        f"At {rps_label(high)} RPS the monthly bills are "
        + ", ".join(f"{TARGET_NAMES[t]} {usd(v)}" for t, v in top.items())
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


def managed_instances_text(cost: Mapping[str, Any]) -> str:
    """When Lambda Managed Instances win, from this run's numbers."""
    monthly, assumptions = cost["monthly_usd"], cost["assumptions"]
    keys = list(monthly["lambda"])
    low = keys[0]
    at = cost["crossover_rps"].get("lambda_mi")
    instances = int(assumptions["lambda_mi_min_instances"]["value"])
    kind = assumptions["lambda_mi_instance_type"]["value"]
    text = (
        f"**Lambda Managed Instances** (`Trident-LambdaMI`, the same handler on EC2 capacity "
        f"Lambda runs for you) start at {usd(monthly['lambda_mi'][low])} a month at "
        f"{rps_label(low)} RPS: AWS keeps {instances} instances ({kind}) running for "
        "availability, billed as EC2 plus a 15% management fee, however few requests come. "
    )
    if at is None:
        text += "They never cost less than on-demand Lambda here (up to 1,000,000 RPS)."
    else:
        text += (
            f"From **{at:,} RPS** they cost less than on-demand Lambda: EC2 hours replace "
            "GB-seconds, and several processes share each environment's CPU."
        )
    wins = [k for k in keys if min(monthly, key=lambda t: monthly[t][k]) == "lambda_mi"]
    if wins:
        text += f" They are the cheapest of all at {', '.join(rps_label(k) for k in wins)} RPS."
    else:
        text += (
            " They are never the cheapest of the four here: they keep API Gateway's and "
            "Lambda's per-request charges, which the containers do not pay; choose them for "
            "Lambda's model without cold starts on the request path, not for the bill."
        )
    if any(w["limit"] == "scaling speed" for w in cost.get("warnings") or ()):
        text += (
            " Lambda scales them on CPU, asynchronously: a peak that more than doubles the "
            "load within five minutes may be throttled, so the peak's capacity must be kept "
            "(`lambda_mi_min_environments`), as priced here."
        )
    return text


def _count(assumptions: Mapping[str, Any], name: str, noun: str) -> str:
    count = int(assumptions.get(name, {}).get("value", 1))
    return f"{count} {noun}" + ("s" if count != 1 else "")
