"""Where a priced load is more than the configured stack would take: each such column gets
a warning naming the limit and the knob that lifts it (the prices stay, as if lifted)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bench.cost.managed import MiSizing
from bench.cost.managed import size as mi_size
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
        found += _lambda(model, rps) + _lambda_mi(model, rps)
        found += _fargate(model, rps) + _ec2(model, rps)
    return found


def _lambda(model: Model, rps: float) -> list[LimitHit]:
    i = model.inputs
    peak = rps * i.peak_ratio
    out: list[LimitHit] = []

    def warn(limit: str, knob: str, message: str) -> None:
        out.append(LimitHit("lambda", rps, limit, knob, message))

    out += _http_api_and_jobs("lambda", model, rps)
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
    return out


def _http_api_and_jobs(target: str, model: Model, rps: float) -> list[LimitHit]:
    """A Lambda target's HTTP API stage throttle, and the on-demand jobs function's
    concurrency (both Lambda targets' jobs run on it)."""
    i = model.inputs
    peak = rps * i.peak_ratio
    out: list[LimitHit] = []
    if peak > i.api_throttle_rate:
        out.append(
            LimitHit(
                target,
                rps,
                "HTTP API throttle",
                "api_throttle_rate",
                f"the peak ({peak:,.0f} RPS) is above the API's throttle of "
                f"{i.api_throttle_rate:,} RPS (burst {i.api_throttle_burst:,}): API Gateway "
                "answers 429 beyond it; raise api_throttle_rate and api_throttle_burst",
            )
        )
    jobs_per_s = peak * (i.mix_enqueue + i.mix_presign)
    # The event source runs each batch's jobs one after another in one environment.
    capacity = i.jobs_max_concurrency * 1000 / i.job_duration_ms
    if jobs_per_s > capacity:
        out.append(
            LimitHit(
                target,
                rps,
                "jobs concurrency",
                "jobs_max_concurrency",
                f"the peak brings {jobs_per_s:,.1f} jobs/s; {i.jobs_max_concurrency} concurrent "
                f"jobs invokes at {i.job_duration_ms:g} ms a job run {capacity:,.1f}/s: the "
                "queue grows until the peak passes",
            )
        )
    return out


def _lambda_mi(model: Model, rps: float) -> list[LimitHit]:
    """Lambda Managed Instances: the provider's vCPU ceiling, RDS Proxy's clients (one per
    process), and a rise to the peak faster than Lambda scales."""
    i, deploy = model.inputs, model.deployment
    sizing = model.lambda_mi_size(rps)
    out = _http_api_and_jobs("lambda_mi", model, rps)

    def warn(limit: str, knob: str, message: str) -> None:
        out.append(LimitHit("lambda_mi", rps, limit, knob, message))

    if sizing.vcpus > i.lambda_mi_max_vcpus:
        warn(
            "maximum vCPUs",
            "lambda_mi_max_vcpus",
            f"the peak needs {sizing.environments} execution environments on "
            f"{sizing.instances} {i.lambda_mi_instance_type} ({sizing.vcpus} vCPUs); the "
            f"capacity provider may run {i.lambda_mi_max_vcpus} vCPUs: Lambda throttles the "
            "rest",
        )
    processes = sizing.environments * i.lambda_mi_per_env_concurrency
    if processes > deploy.proxy_share:
        warn(
            "RDS Proxy connections",
            "lambda_mi_per_env_concurrency / proxy_max_connections_percent",
            f"the peak's {sizing.environments} environments x "
            f"{i.lambda_mi_per_env_concurrency} processes would be {processes:,} RDS Proxy "
            f"clients; the proxy may open {deploy.proxy_share:,} "
            f"({deploy.proxy_max_connections_percent}% of max_connections "
            f"{deploy.max_connections:,}), and synth refuses more processes than that: lower "
            "lambda_mi_per_env_concurrency or give the proxy more connections",
        )
    average = size_at_average(model, rps)
    if i.peak_ratio > 2 and sizing.environments > average.environments:
        warn(
            "scaling speed",
            "lambda_mi_min_environments",
            f"the peak ({i.peak_ratio:g}x the average) needs {sizing.environments} "
            f"environments, the average {average.environments}: traffic that more than "
            "doubles within 5 minutes may be throttled while Lambda scales (AWS, Lambda "
            "Managed Instances scaling); the model prices the peak's capacity all month, "
            f"as lambda_mi_min_environments={sizing.environments} would keep it",
        )
    return out


def size_at_average(model: Model, rps: float) -> MiSizing:
    """The capacity Lambda keeps for the average load alone."""
    return mi_size(model.inputs.replace(peak_ratio=1.0), rps)


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
