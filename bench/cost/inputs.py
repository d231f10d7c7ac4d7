"""The cost model's inputs: every figure it prices, with a note and where it came from
(assumed, the CDK defaults among them, or measured by a bench run)."""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from deployment.instances import instance_architecture
from deployment.settings import PROFILES, DeploySettings

DEFAULT_RPS = (1.0, 10.0, 100.0, 1_000.0, 10_000.0)
# Lambda gives a function one full vCPU at 1,769 MB, and CPU in proportion below that.
LAMBDA_MB_PER_VCPU = 1769
# Endpoints of the request mix, as `python -m bench load` names its scenarios.
MIX_ENDPOINTS = ("read", "presign", "enqueue")


def lambda_cpu_scale(memory_mb: int) -> float:
    """Factor from a local in-process time to Lambda's at ``memory_mb`` (its CPU share)."""
    return max(1.0, LAMBDA_MB_PER_VCPU / memory_mb)


def _in(default: Any, note: str) -> Any:
    return field(default=default, metadata={"note": note})


CDK = DeploySettings()  # the stacks' defaults: what `make deploy-*` creates
# The instance type priced for Lambda Managed Instances when Lambda chooses (no type knob).
MI_DEFAULT_TYPES = {"x86_64": "m7i.large", "arm64": "m7g.large"}


def mi_instance_type(deploy: DeploySettings) -> str:
    """The instance type the model prices for a deployment's capacity provider."""
    if deploy.lambda_mi_instance_types:
        return deploy.lambda_mi_instance_types[0]
    return MI_DEFAULT_TYPES[deploy.lambda_mi_architecture]


@dataclass(frozen=True)
class Inputs:
    """Every input of the model. ``measured`` names the fields a bench run supplied; the rest
    are assumptions (the CDK defaults among them, which `-c` changes at deploy)."""

    rps: tuple[float, ...] = _in(DEFAULT_RPS, "average requests per second, one column each")
    peak_ratio: float = _in(3.0, "peak RPS / average RPS: containers are sized for the peak")
    # The request mix: which endpoints the traffic is made of.
    mix_read: float = _in(0.96, "share of requests: GET /v1/files/{id} (DB read, ETag)")
    mix_presign: float = _in(0.02, "share of requests: POST /v1/files, each then one upload")
    mix_enqueue: float = _in(0.02, "share of requests: POST /v1/jobs, each one job")
    # Lambda
    lambda_duration_ms: float = _in(10.0, "mean duration of an API invoke on Lambda")
    lambda_cpu_scale: float = _in(
        1.0,
        "factor from the local in-process time to Lambda's: 1769 MB / memory when measured "
        "(Lambda's CPU share; an upper bound for I/O-bound requests)",
    )
    lambda_billed_ms: float | None = _in(
        None,
        "billed ms per API invoke: when measured, the mix-weighted mean over invokes of "
        "ceil(duration x lambda_cpu_scale) (Lambda rounds each invoke up to 1 ms); unset, "
        "ceil(lambda_duration_ms x lambda_cpu_scale), the mean rounded once",
    )
    lambda_memory_mb: int = _in(CDK.lambda_memory, "API function memory (cdk lambda_memory)")
    lambda_architecture: str = _in(CDK.lambda_architecture, "cdk lambda_architecture")
    lambda_init_ms: float = _in(400.0, "init phase of a cold start (billed since 2025-08-01)")
    cold_start_rate: float = _in(
        0.01, "cold starts per invoke; AWS: under 1% of invocations in production"
    )
    lambda_snapstart: bool = _in(
        CDK.lambda_snapstart,
        "cdk lambda_snapstart: cold starts restore the API function from a snapshot (its cache "
        "and restores priced; the billed restore duration replaces the init)",
    )
    lambda_snapstart_versions: int = _in(
        1, "API function versions cached: the stack publishes one a deploy, deletes the old"
    )
    lambda_restore_ms: float = _in(
        50.0,
        "SnapStart's billed restore duration per cold start (runtime load + the after-restore "
        "hook, billed as duration): REPORT's Billed Restore Duration on AWS tells the real one",
    )
    lambda_log_bytes: float = _in(900.0, "bytes the API function logs per invoke (access + EMF)")
    lambda_log_events: float = _in(2.0, "log events the API function writes per invoke")
    platform_log_bytes: float = _in(280.0, "Lambda's START/END/REPORT lines per invoke (3 events)")
    http_api_log_bytes: float = _in(330.0, "HTTP API access log line per request (1 event)")
    jobs_lambda_memory_mb: int = _in(CDK.jobs_lambda_memory, "cdk jobs_lambda_memory")
    jobs_batch_size: int = _in(CDK.jobs_batch_size, "SQS messages per jobs invoke (cdk)")
    # Limits the deployed stack enforces: a load beyond one is priced, and warned about.
    api_throttle_rate: int = _in(CDK.api_throttle_rate, "HTTP API stage throttle, RPS (cdk)")
    api_throttle_burst: int = _in(CDK.api_throttle_burst, "HTTP API stage burst (cdk)")
    lambda_reserved_concurrency: int = _in(
        CDK.lambda_reserved_concurrency or 0,
        "API function's reserved concurrency (cdk; 0: none, it shares the account's)",
    )
    account_concurrency: int = _in(
        1000,
        "the account's concurrent executions quota in a Region, by default "
        "(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)",
    )
    jobs_max_concurrency: int = _in(CDK.jobs_max_concurrency, "jobs event source (cdk)")
    job_duration_ms: float = _in(
        200.0,
        "wall ms of one job, claim to result; measured by `python -m bench worker`: an ingest "
        "of a 1 MiB upload (one per upload: weight mix_presign) and an export of 100 files "
        "(for every POST /v1/jobs: weight mix_enqueue), one at a time, on moto's S3 and SQS",
    )
    job_cpu_ms: float = _in(
        20.0,
        "worker process CPU ms per job, receive to delete, for sizing container workers; "
        "measured and weighted as job_duration_ms",
    )
    job_log_bytes: float = _in(500.0, "bytes logged per job")
    housekeeping_ms: float = _in(1000.0, "housekeeping run every 5 minutes at 512 MB (cdk)")
    # Lambda Managed Instances (deployment/lambda_mi.py has AWS's facts and their pages)
    lambda_mi_instance_type: str = _in(
        mi_instance_type(CDK),
        "the instance type priced: the first of cdk lambda_mi_instance_types (the provider may "
        "launch any of them), or m7i.large / m7g.large when Lambda chooses",
    )
    lambda_mi_memory_mb: int = _in(CDK.lambda_mi_memory, "execution environment MB (cdk)")
    lambda_mi_memory_per_vcpu: int = _in(
        CDK.lambda_mi_memory_per_vcpu, "GiB per vCPU of an environment (cdk): its vCPUs"
    )
    lambda_mi_per_env_concurrency: int = _in(
        CDK.lambda_mi_per_env_concurrency, "processes per environment, one request each (cdk)"
    )
    lambda_mi_max_vcpus: int = _in(CDK.lambda_mi_max_vcpus, "cdk lambda_mi_max_vcpus (warns)")
    lambda_mi_min_environments: int = _in(
        CDK.lambda_mi_min_environments, "environments of the live version always running (cdk)"
    )
    lambda_mi_min_instances: int = _in(
        3,
        "instances the provider runs at the least: AWS launches three for AZ resiliency "
        "(https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-scaling.html)",
    )
    lambda_mi_cpu_ms: float | None = _in(
        None,
        "CPU ms per request in a managed-instances process, for sizing at cpu_target_percent "
        "(Lambda scales the provider on CPU); unset: server_cpu_ms, the same app's measured "
        "CPU per request in a container",
    )
    # Containers
    server_cpu_ms: float = _in(2.0, "server CPU time per request of the mix (Gunicorn, 2 workers)")
    container_log_bytes: float = _in(400.0, "bytes the app logs per request (one JSON line)")
    container_log_events: float = _in(1.0, "log events per request in a container")
    cpu_target_percent: int = _in(
        CDK.cpu_target_percent, "autoscaling CPU target: capacity for the peak at this load"
    )
    min_tasks: int = _in(CDK.fargate_min_tasks, "web tasks at least (cdk fargate_min_tasks)")
    min_instances: int = _in(CDK.ec2_min_instances, "instances at least (cdk ec2_min_instances)")
    fargate_cpu: int = _in(CDK.fargate_cpu, "web task CPU units (cdk fargate_cpu)")
    fargate_memory: int = _in(CDK.fargate_memory, "web task MiB (cdk fargate_memory)")
    fargate_max_tasks: int = _in(CDK.fargate_max_tasks, "cdk fargate_max_tasks (warns above)")
    fargate_worker_cpu: int = _in(CDK.fargate_worker_cpu, "worker task CPU units (cdk)")
    fargate_worker_memory: int = _in(CDK.fargate_worker_memory, "worker task MiB (cdk)")
    fargate_worker_min_tasks: int = _in(CDK.fargate_worker_min_tasks, "cdk worker minimum")
    fargate_worker_max_tasks: int = _in(CDK.fargate_worker_max_tasks, "cdk worker maximum")
    fargate_worker_spot: bool = _in(
        CDK.fargate_worker_spot, "cdk fargate_worker_spot: the worker service on Fargate Spot"
    )
    fargate_architecture: str = _in(CDK.fargate_architecture, "cdk fargate_architecture")
    ec2_instance_type: str = _in(
        CDK.ec2_instance_type, "cdk ec2_instance_type (a *g family is Graviton, arm64)"
    )
    ec2_max_instances: int = _in(CDK.ec2_max_instances, "cdk ec2_max_instances (warns above)")
    ec2_volume_gb: int = _in(20, "gp3 root volume per instance (cdk/components/ec2_api.py)")
    ec2_monitoring_metrics: int = _in(7, "detailed monitoring: 1-minute metrics per instance")
    container_insights_metrics: int = _in(25, "Container Insights metrics of the Fargate cluster")
    ecr_image_gb: float = _in(0.3, "the Fargate image in ECR")
    savings_plan_discount: float = _in(
        0.0,
        "Compute Savings Plan discount, 0 <= d < 1, on what the plan covers: Fargate vCPU and "
        "memory, EC2 instance hours, Lambda duration (not requests, SnapStart or Spot); "
        "https://aws.amazon.com/savingsplans/compute-pricing/",
    )
    # Traffic on the wire
    request_bytes: float = _in(450.0, "request size on the wire (headers + body)")
    response_bytes: float = _in(600.0, "response size on the wire (headers + body)")
    direct_alb: bool = _in(
        False,
        "containers behind an internet-facing ALB (domain + certificate) instead of the "
        "default CloudFront in front of an internal ALB",
    )
    alb_new_connections_per_request: float = _in(
        0.01, "new ALB connections per request (CloudFront and clients keep them alive)"
    )
    access_log_bytes: float = _in(40.0, "CloudFront standard log per request, gzipped, in S3")
    access_log_months: float = _in(3.0, "log bucket expiry: 90 days (cdk/components/storage.py)")
    # AWS API calls
    aws_call_bytes: float = _in(2000.0, "bytes through the NAT gateway per SQS call (HTTPS)")
    # SQS requests per job: SendMessage (the API's, or S3's upload event), then the consumer's.
    sqs_requests_per_job_lambda: float | None = _in(
        None,
        "SQS requests per job on Lambda; unset: 1 + 2 / jobs_batch_size, a SendMessage and, "
        "per batch, the event source's ReceiveMessage and its delete of what the function "
        "processed (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html). Full batches, "
        "as under load: a job alone in its batch costs 3",
    )
    sqs_requests_per_job_containers: float | None = _in(
        None,
        "SQS requests per job on Fargate and EC2; unset: 2 + 1 / min(10, worker_concurrency + "
        "1), a SendMessage, a DeleteMessage per message (app/jobs/queue.py) and a "
        "ReceiveMessage per worker_concurrency + 1 messages, what app/jobs/worker.py asks "
        "for each time a slot frees under a backlog",
    )
    worker_concurrency: int = _in(CDK.worker_concurrency, "jobs a container worker runs at once")
    sqs_pollers_lambda: int = _in(
        5,
        "the jobs event source's long pollers on an idle queue: 5, not as few as 2, since the "
        "stack sets maximum concurrency "
        "(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html); a "
        "container target polls with one worker per Fargate worker task or EC2 instance",
    )
    sqs_poll_wait_s: int = _in(20, "seconds an empty long poll waits (WORKER_POLL_WAIT_S)")
    s3_puts_per_upload: float = _in(2.0, "the browser's POST, the copy into files/")
    s3_gets_per_upload: float = _in(2.0, "HEAD and GET while verifying")
    # Trident-Shared
    nat_gateways: int = _in(CDK.nat_gateways, "cdk nat_gateways (each with a public IPv4)")
    sqs_endpoint: bool = _in(CDK.sqs_endpoint, "cdk sqs_endpoint (an interface endpoint in 2 AZs)")
    db_instance_class: str = _in(CDK.db_instance_class, "cdk db_instance_class")
    db_storage_gb: int = _in(CDK.db_allocated_storage_gb, "cdk db_allocated_storage_gb")
    db_multi_az: bool = _in(CDK.db_multi_az, "cdk db_multi_az")
    shared_log_gb: float = _in(1.0, "GB/month: VPC flow logs (rejects) and PostgreSQL's own log")
    logs_compression: float = _in(0.15, "stored / ingested size of CloudWatch Logs (30-day)")
    secrets: int = _in(2, "Secrets Manager: database credentials and JWT keys")
    kms_keys: int = _in(1, "customer-managed KMS keys: the alarm topic's, which CloudWatch may use")
    profile: str = _in("default", "the deployment profile the cdk defaults above come from")
    measured: frozenset[str] = field(default=frozenset(), metadata={"note": ""})

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise InputError("; ".join(problems))

    @classmethod
    def for_profile(cls, profile: str) -> Inputs:
        """The defaults, with every knob a deployment sets taken from ``profile``."""
        return cls(profile=profile, **profile_knobs(profile))

    def deployment(self) -> DeploySettings:
        """The deployment these inputs price: the profile, with the inputs' knobs."""
        deploy = DeploySettings.of_profile(self.profile)
        mirrored = {
            name: getattr(self, name) for name in FROM_DEPLOYMENT if name in _SAME_NAMED_KNOBS
        }
        return deploy.replace(
            **mirrored,
            fargate_min_tasks=self.min_tasks,
            ec2_min_instances=self.min_instances,
            lambda_memory=self.lambda_memory_mb,
            jobs_lambda_memory=self.jobs_lambda_memory_mb,
            db_allocated_storage_gb=self.db_storage_gb,
            lambda_reserved_concurrency=self.lambda_reserved_concurrency or None,
            lambda_mi_memory=self.lambda_mi_memory_mb,
            **self._mi_instance_knobs(deploy),
        )

    def _mi_instance_knobs(self, deploy: DeploySettings) -> dict[str, Any]:
        """The capacity provider's instance knobs: the profile's, unless the priced type is
        another, which then is the only one allowed."""
        if mi_instance_type(deploy) == self.lambda_mi_instance_type:
            return {}
        return {
            "lambda_mi_instance_types": (self.lambda_mi_instance_type,),
            "lambda_mi_architecture": instance_architecture(self.lambda_mi_instance_type),
        }

    def replace(self, **changes: Any) -> Inputs:
        return dataclasses.replace(self, **changes)

    def lambda_billed(self) -> float:
        """Billed ms per API invoke: as measured per invoke, else the mean rounded up once."""
        if self.lambda_billed_ms is not None:
            return self.lambda_billed_ms
        return float(math.ceil(self.lambda_duration_ms * self.lambda_cpu_scale))

    def mi_cpu_ms(self) -> float:
        """CPU ms per request on Lambda Managed Instances: given, or the containers'."""
        return self.server_cpu_ms if self.lambda_mi_cpu_ms is None else self.lambda_mi_cpu_ms

    def sqs_per_job(self, target: str) -> float:
        """SQS requests per job on ``target``: given, or derived from its consumer's batches."""
        if target == "lambda":
            given, derived = self.sqs_requests_per_job_lambda, 1 + 2 / self.jobs_batch_size
        else:
            given = self.sqs_requests_per_job_containers
            derived = 2 + 1 / min(10, self.worker_concurrency + 1)
        return derived if given is None else given

    def assumptions(self) -> dict[str, dict[str, Any]]:
        """Every input with its value (an unset one as derived), source and note."""
        derived: dict[str, Any] = {
            "lambda_billed_ms": self.lambda_billed(),
            "sqs_requests_per_job_lambda": self.sqs_per_job("lambda"),
            "sqs_requests_per_job_containers": self.sqs_per_job("fargate"),
            "lambda_mi_cpu_ms": self.mi_cpu_ms(),
        }
        out: dict[str, dict[str, Any]] = {}
        for spec in fields(self):
            if spec.name == "measured":
                continue
            value = derived.get(spec.name, getattr(self, spec.name))
            out[spec.name] = {
                "value": list(value) if isinstance(value, tuple) else value,
                "source": "measured" if spec.name in self.measured else "assumed",
                "note": spec.metadata["note"],
            }
        return out


class InputError(ValueError):
    """An input outside what it can mean (a negative RPS, a share above 1, ...)."""


_SAME_NAMED_KNOBS = (
    "fargate_cpu",
    "fargate_memory",
    "fargate_max_tasks",
    "fargate_worker_cpu",
    "fargate_worker_memory",
    "fargate_worker_min_tasks",
    "fargate_worker_max_tasks",
    "fargate_worker_spot",
    "fargate_architecture",
    "ec2_instance_type",
    "ec2_max_instances",
    "lambda_architecture",
    "lambda_snapstart",
    "jobs_batch_size",
    "jobs_max_concurrency",
    "api_throttle_rate",
    "api_throttle_burst",
    "cpu_target_percent",
    "worker_concurrency",
    "nat_gateways",
    "sqs_endpoint",
    "db_instance_class",
    "db_multi_az",
    "lambda_mi_memory_per_vcpu",
    "lambda_mi_per_env_concurrency",
    "lambda_mi_max_vcpus",
    "lambda_mi_min_environments",
)
# Inputs that are a deployment knob: {input: how to read it from DeploySettings}.
FROM_DEPLOYMENT: dict[str, Callable[[DeploySettings], Any]] = {
    **{name: operator.attrgetter(name) for name in _SAME_NAMED_KNOBS},
    "min_tasks": operator.attrgetter("fargate_min_tasks"),
    "min_instances": operator.attrgetter("ec2_min_instances"),
    "lambda_memory_mb": operator.attrgetter("lambda_memory"),
    "jobs_lambda_memory_mb": operator.attrgetter("jobs_lambda_memory"),
    "db_storage_gb": operator.attrgetter("db_allocated_storage_gb"),
    "lambda_reserved_concurrency": lambda deploy: deploy.lambda_reserved_concurrency or 0,
    "lambda_mi_memory_mb": operator.attrgetter("lambda_mi_memory"),
    "lambda_mi_instance_type": mi_instance_type,
}


def profile_knobs(profile: str) -> dict[str, Any]:
    """The inputs a deployment profile sets."""
    deploy = DeploySettings.of_profile(profile)
    return {name: knob(deploy) for name, knob in FROM_DEPLOYMENT.items()}


def profile_changes(profile: str) -> dict[str, Any]:
    """The inputs a profile sets differently from the default one: what pricing the same
    inputs under that profile changes (a knob set by hand keeps its value otherwise)."""
    default = profile_knobs("default")
    return {k: v for k, v in profile_knobs(profile).items() if default[k] != v}


def _problems(inputs: Inputs) -> Iterator[str]:
    if not inputs.rps or any(rps < 0 or not math.isfinite(rps) for rps in inputs.rps):
        yield f"rps={list(inputs.rps)}: every RPS must be a number >= 0 (0 prices an idle month)"
    shares = (inputs.mix_read, inputs.mix_presign, inputs.mix_enqueue)
    if any(not 0 <= share <= 1 for share in shares) or not math.isclose(sum(shares), 1.0):
        yield f"mix_read, mix_presign, mix_enqueue = {shares}: shares within 0..1 that add to 1"
    for name, low, high in _RANGES:
        value = getattr(inputs, name)
        if not low <= value <= high:
            yield f"{name}={value}: must be within {low:g}..{high:g}"
    if inputs.profile not in PROFILES:
        yield f"profile={inputs.profile!r}: one of {', '.join(PROFILES)}"


_RANGES = (
    ("peak_ratio", 1, 1000),
    ("cold_start_rate", 0, 1),
    ("lambda_cpu_scale", 0.01, 100),
    ("cpu_target_percent", 1, 100),
    ("logs_compression", 0.01, 1),
    ("min_tasks", 1, 10_000),
    ("min_instances", 1, 10_000),
    ("jobs_batch_size", 1, 10_000),
    ("jobs_max_concurrency", 2, 1000),
    ("lambda_memory_mb", 128, 10_240),
    ("account_concurrency", 1, 10_000_000),
    ("lambda_reserved_concurrency", 0, 10_000_000),
    ("lambda_mi_per_env_concurrency", 1, 1600),
    ("lambda_mi_memory_per_vcpu", 2, 8),
    ("lambda_mi_memory_mb", 2048, 32_768),
    ("lambda_mi_min_environments", 0, 15_000),
    ("lambda_mi_min_instances", 0, 15_000),
)
