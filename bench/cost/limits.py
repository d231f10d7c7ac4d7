"""Where a priced load is more than the configured stack would take: each such column gets
a warning naming the limit and the knob that lifts it (the prices stay, as if lifted)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from deployment.settings import RESERVED_CONNECTIONS

if TYPE_CHECKING:
    from bench.cost.model import Model


@dataclass(frozen=True)
class LimitHit:
    target: str
    rps: float
    limit: str
    knob: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def warnings(model: Model) -> list[LimitHit]:
    found: list[LimitHit] = []
    for rps in model.inputs.rps:
        found += _lambda(model, rps) + _fargate(model, rps) + _ec2(model, rps)
    return found


def _lambda(model: Model, rps: float) -> list[LimitHit]:
    i = model.inputs
    peak = rps * i.peak_ratio
    out: list[LimitHit] = []

    def warn(limit: str, knob: str, message: str) -> None:
        out.append(LimitHit("lambda", rps, limit, knob, message))

    if peak > i.api_throttle_rate:
        warn(
            "HTTP API throttle",
            "api_throttle_rate",
            f"the peak ({peak:,.0f} RPS) is above the API's throttle of {i.api_throttle_rate:,} "
            f"RPS (burst {i.api_throttle_burst:,}): API Gateway answers 429 beyond it; raise "
            "api_throttle_rate and api_throttle_burst",
        )
    # Each environment serves one request at a time for as long as the request lasts there.
    concurrency = peak * i.lambda_duration_ms * i.lambda_cpu_scale / 1000
    if i.lambda_reserved_concurrency and concurrency > i.lambda_reserved_concurrency:
        warn(
            "reserved concurrency",
            "lambda_reserved_concurrency",
            f"the peak needs about {concurrency:,.0f} concurrent executions; the function may "
            f"use {i.lambda_reserved_concurrency:,} (lambda_reserved_concurrency): Lambda "
            "throttles the rest",
        )
    elif concurrency > i.account_concurrency:
        warn(
            "account concurrency",
            "account concurrency quota (Service Quotas)",
            f"the peak needs about {concurrency:,.0f} concurrent executions; a default account "
            f"has {i.account_concurrency:,} in a Region: request a quota increase",
        )
    proxy = model.deployment.max_connections * model.deployment.proxy_max_connections_percent
    proxy //= 100
    if concurrency > proxy:
        warn(
            "RDS Proxy connections",
            "db_instance_class / proxy_max_connections_percent",
            f"about {concurrency:,.0f} concurrent executions each want a database connection "
            f"in their transaction; RDS Proxy may open {proxy:,} "
            f"({model.deployment.proxy_max_connections_percent}% of max_connections "
            f"{model.deployment.max_connections:,}): the rest wait on the proxy",
        )
    jobs_per_s = peak * (i.mix_enqueue + i.mix_presign)
    # The event source runs each batch's jobs one after another in one environment.
    capacity = i.jobs_max_concurrency * 1000 / i.job_duration_ms
    if jobs_per_s > capacity:
        warn(
            "jobs concurrency",
            "jobs_max_concurrency",
            f"the peak brings {jobs_per_s:,.1f} jobs/s; {i.jobs_max_concurrency} concurrent "
            f"jobs invokes at {i.job_duration_ms:g} ms a job run {capacity:,.1f}/s: the "
            "queue grows until the peak passes",
        )
    return out


def _beyond_knob(target: str, rps: float, knob: str, message: str) -> LimitHit:
    """A size the peak needs beyond the knob that caps it."""
    return LimitHit(target, rps, knob, knob, message)


def _fargate(model: Model, rps: float) -> list[LimitHit]:
    i, deploy = model.inputs, model.deployment
    tasks, workers = model.fargate_tasks(rps)
    out: list[LimitHit] = []
    if tasks > i.fargate_max_tasks:
        message = f"the peak needs {tasks} web tasks; the service scales to {i.fargate_max_tasks}"
        out.append(_beyond_knob("fargate", rps, "fargate_max_tasks", message))
    if workers > i.fargate_worker_max_tasks:
        message = (
            f"the peak's jobs need {workers} worker tasks; the worker service scales to "
            f"{i.fargate_worker_max_tasks}: the queue grows until the peak passes"
        )
        out.append(_beyond_knob("fargate", rps, "fargate_worker_max_tasks", message))
    per_task = deploy.fargate_web_workers * (
        deploy.fargate_db_pool_size + deploy.fargate_db_max_overflow
    )
    needed = tasks * per_task + workers * deploy.worker_pool_size
    out += _connections("fargate", rps, needed, model)
    return out


def _ec2(model: Model, rps: float) -> list[LimitHit]:
    i, deploy = model.inputs, model.deployment
    count = model.ec2_instances(rps)
    out: list[LimitHit] = []
    if count > i.ec2_max_instances:
        message = (
            f"the peak needs {count} {i.ec2_instance_type} instances; the group scales to "
            f"{i.ec2_max_instances}"
        )
        out.append(_beyond_knob("ec2", rps, "ec2_max_instances", message))
    per_instance = deploy.ec2_workers * (deploy.ec2_db_pool_size + deploy.ec2_db_max_overflow)
    needed = count * (per_instance + deploy.worker_pool_size)
    out += _connections("ec2", rps, needed, model)
    return out


def _connections(target: str, rps: float, needed: int, model: Model) -> list[LimitHit]:
    """The target's processes at the peak, alone on the database, against max_connections."""
    available = model.deployment.max_connections - RESERVED_CONNECTIONS
    if needed <= available:
        return []
    return [
        LimitHit(
            target,
            rps,
            "max_connections",
            "db_instance_class / db_max_connections",
            f"the processes the peak needs can open {needed:,} database connections; "
            f"db.{model.inputs.db_instance_class} allows {model.deployment.max_connections:,} "
            f"({RESERVED_CONNECTIONS} reserved): synth refuses such a sizing",
        )
    ]
