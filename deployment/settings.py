"""Deployment settings: per-target sizing with defaults, each overridable by CDK context.

``npx cdk deploy -c lambda_memory=1536 -c ec2_instance_type=c6i.xlarge`` (or a ``context``
block in cdk.json). Every knob is a field below; the context key is the field name. The README's
"Deploy to AWS" section lists them all. Nothing here imports ``app``: the few values the app
also reads (CORS origins, queue redrive) are passed to it as the same-named environment
variables (CORS_ORIGINS, JOBS_MAX_RECEIVE_COUNT, ...).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, get_args, get_origin, get_type_hints

from deployment import lambda_mi
from deployment.bytecode import DEFAULT_PYTHON, LAMBDA_PYTHONS

# Re-exported: callers import both from here, as before the instance table moved out.
from deployment.errors import SettingsError as SettingsError
from deployment.instances import instance_vcpus as instance_vcpus

TARGETS = ("lambda", "lambda-mi", "fargate", "ec2")
# The targets whose functions reach the database through the one RDS Proxy (Trident-Shared).
PROXY_TARGETS = ("lambda", "lambda-mi")

# A sensible max_connections per RDS instance size (RDS's own default is memory / 9.5 MB).
_MAX_CONNECTIONS = {
    "micro": 80,
    "small": 180,
    "medium": 400,
    "large": 800,
    "xlarge": 1600,
    "2xlarge": 3200,
}

# Connections the budget keeps free: superuser_reserved_connections (3), RDS's own
# monitoring (≈ 2), the migration run (1) and a psql session for an operator.
RESERVED_CONNECTIONS = 8


MIN_JOBS_FUNCTION_TIMEOUT_S = 30

# How CodeDeploy shifts the API function's alias ``live`` to a new version (lambda_deployment).
LAMBDA_DEPLOYMENTS = ("all_at_once", "canary10_5m", "linear10_1m")

# Named starting points for the knobs below; ``-c`` values override them (``-c profile=ha``).
PROFILES: dict[str, dict[str, Any]] = {
    # What `cdk deploy` creates unless told otherwise: the least that runs, one of each.
    "default": {},
    # Production: every tier survives the loss of an Availability Zone (the VPC spans two).
    "ha": {
        "nat_gateways": 2,
        "db_multi_az": True,
        "fargate_min_tasks": 2,
        "fargate_worker_min_tasks": 2,
        "ec2_min_instances": 2,
    },
}
# Stages: a profile plus what a stage changes beyond sizes; `-c stage=prod` also names the
# stacks Trident-prod-*, so the stages of one account stand side by side.
STAGES: dict[str, dict[str, Any]] = {
    # Cheap and disposable: `cdk destroy` may take the database with it.
    "dev": {"profile": "default", "db_deletion_protection": False},
    "prod": {
        "profile": "ha",
        "db_deletion_protection": True,
        "log_retention_days": 90,
        "lambda_deployment": "canary10_5m",
    },
}


@dataclass(frozen=True, kw_only=True)
class DeploySettings:
    """All knobs, flat, so that each one is a single ``-c name=value``."""

    # The stage (STAGES) and the profile (PROFILES) the other knobs start from.
    stage: str | None = None
    profile: str = "default"
    # Which target stacks the app synthesizes (and the connection budget counts).
    targets: tuple[str, ...] = TARGETS
    # Prefix of stack names: Trident-Shared, Trident-Lambda, ...
    stack_prefix: str = "Trident"

    # --- network
    nat_gateways: int = 1
    sqs_endpoint: bool = False

    # --- database (RDS for PostgreSQL; 16 matches the local server and RDS Proxy)
    db_postgres_version: str = "16"
    db_instance_class: str = "t4g.small"
    db_allocated_storage_gb: int = 20
    db_max_allocated_storage_gb: int = 100
    db_max_connections: int | None = None  # default from the instance size
    db_multi_az: bool = False
    db_deletion_protection: bool = True
    db_backup_retention_days: int = 7
    db_name: str = "trident"
    db_username: str = "trident"

    # --- storage, queue, app settings shared by every target
    # The app's FILES_CORS_ORIGINS: origins the bucket lets POST uploads and GET downloads.
    # "*" by default: the presigned signature is the authorization (no credentials are sent).
    files_cors_origins: tuple[str, ...] = ("*",)
    # The app's CORS_ORIGINS (the API's own CORS); empty: the upload page is same-origin.
    cors_origins: tuple[str, ...] = ()
    jobs_max_receive_count: int = 5
    jobs_lease_s: int = 60
    # Six times the Lambda jobs function's timeout (120 s): see lambda_jobs_timeout_s.
    jobs_visibility_timeout_s: int = 720
    log_level: str = "INFO"
    log_retention_days: int = 30
    docs_enabled: bool = False
    alarm_email: str | None = None

    # --- Lambda target
    lambda_memory: int = 1024
    lambda_architecture: str = "x86_64"
    # The functions' Python (LAMBDA_PYTHONS): runtime, build image, wheels and bytecode
    # follow it. The default and the measurement behind it: deployment/bytecode.py.
    lambda_python: str = DEFAULT_PYTHON
    lambda_snapstart: bool = False
    lambda_reserved_concurrency: int | None = None
    lambda_timeout_s: int = 29
    jobs_lambda_memory: int = 1024
    jobs_batch_size: int = 10
    jobs_batching_window_s: int = 0
    jobs_max_concurrency: int = 5
    api_throttle_rate: int = 200
    api_throttle_burst: int = 400
    # Share of max_connections RDS Proxy may open to the database.
    proxy_max_connections_percent: int = 40
    # The functions' DB_STATEMENT_CACHE_SIZE: 0 if the pinned-sessions alarm ever fires.
    proxy_statement_cache_size: int = 100
    # How the alias `live` moves to a new version (LAMBDA_DEPLOYMENTS, through CodeDeploy).
    lambda_deployment: str = "all_at_once"
    # The HTTP API on your domain (a regional API Gateway domain; certificate in the region).
    lambda_domain_name: str | None = None
    lambda_certificate_arn: str | None = None

    # --- Lambda Managed Instances target (deployment/lambda_mi.py: the rules and AWS's facts)
    # Instance types the capacity provider may launch (empty: Lambda chooses, AWS's advice
    # for availability). M family: 4 GiB per vCPU, as lambda_mi_memory_per_vcpu.
    lambda_mi_instance_types: tuple[str, ...] = (
        "m7i.large",
        "m7i.xlarge",
        "m6i.large",
        "m6i.xlarge",
    )
    lambda_mi_architecture: str = "x86_64"
    # vCPUs of all the provider's instances together: the cost ceiling and the process bound.
    lambda_mi_max_vcpus: int = 12
    # Processes (one request each) per execution environment: PerExecutionEnvironmentMax-
    # Concurrency. 6 per vCPU, not AWS's 16: 12 vCPUs x 6 fit RDS Proxy's share (72).
    lambda_mi_per_env_concurrency: int = 6
    # An execution environment's memory (MB) and memory per vCPU (GiB): 4096 / 4 = 1 vCPU.
    lambda_mi_memory: int = 4096
    lambda_mi_memory_per_vcpu: int = 4
    lambda_mi_python: str = "3.13"
    # Execution environments of the live version kept running (AWS's default 3, one per AZ).
    lambda_mi_min_environments: int = 3
    lambda_mi_max_environments: int | None = None
    lambda_mi_domain_name: str | None = None
    lambda_mi_certificate_arn: str | None = None

    # --- rollback alarms (Lambda canary per version; ECS deployment alarms on the web tier)
    # 5xx responses in one minute; p99 latency over a minute, in milliseconds.
    rollback_5xx_count: int = 5
    rollback_p99_ms: int = 3000

    # --- Fargate target
    fargate_cpu: int = 1024
    fargate_memory: int = 2048
    fargate_web_workers: int = 2
    fargate_min_tasks: int = 1
    fargate_max_tasks: int = 4
    fargate_worker_cpu: int = 512
    fargate_worker_memory: int = 1024
    fargate_worker_min_tasks: int = 1
    fargate_worker_max_tasks: int = 2
    fargate_architecture: str = "x86_64"
    # The worker service on Fargate Spot (spare capacity at a discount; a task may be stopped
    # with two minutes' notice, and the worker hands its jobs back to the queue when it is).
    fargate_worker_spot: bool = False
    # No overflow: an overflow connection is opened and closed again under every burst
    # beyond the pool; a fixed pool of the same total never connects in steady load.
    fargate_db_pool_size: int = 5
    fargate_db_max_overflow: int = 0
    fargate_domain_name: str | None = None
    fargate_certificate_arn: str | None = None

    # --- EC2 target
    ec2_instance_type: str = "c6i.large"
    ec2_min_instances: int = 1
    ec2_max_instances: int = 3
    ec2_web_workers: int | None = None  # default: one per vCPU
    ec2_db_pool_size: int = 5
    ec2_db_max_overflow: int = 0
    ec2_domain_name: str | None = None
    ec2_certificate_arn: str | None = None

    # --- shared by the container targets
    worker_concurrency: int = 4
    # Gunicorn's graceful_timeout (docker/gunicorn.conf.py); the ALB waits longer on deregistration.
    graceful_timeout_s: int = 30
    cpu_target_percent: int = 60
    requests_per_target: int = 1000

    # --- CI/CD (the Trident-Ci stack, once per account; cdk/stacks/ci.py checks these)
    github_repo: str | None = None  # OWNER/REPO whose workflows may deploy
    github_oidc_provider_arn: str | None = None  # reuse the account's GitHub provider
    github_environments: tuple[str, ...] = ()  # only these environments' jobs, when given

    def __post_init__(self) -> None:
        if self.stage is not None and self.stage not in STAGES:
            raise SettingsError(f"stage: unknown {self.stage!r}; choose from {list(STAGES)}")
        if self.profile not in PROFILES:
            raise SettingsError(f"profile: unknown {self.profile!r}; choose from {list(PROFILES)}")
        if self.nat_gateways < 1:
            raise SettingsError("nat_gateways must be >= 1: functions and tasks reach AWS APIs")
        unknown = set(self.targets) - set(TARGETS)
        if unknown:
            raise SettingsError(f"targets: unknown {sorted(unknown)}; choose from {TARGETS}")
        for name in ("lambda_architecture", "fargate_architecture"):
            if getattr(self, name) not in ("x86_64", "arm64"):
                raise SettingsError(f"{name} must be x86_64 or arm64")
        if self.lambda_python not in LAMBDA_PYTHONS:
            raise SettingsError(
                f"lambda_python: {self.lambda_python!r} is not a runtime the Lambda bundle is "
                f"built for; choose from {list(LAMBDA_PYTHONS)}"
            )
        if self.jobs_visibility_timeout_s < self.jobs_lease_s:
            raise SettingsError("jobs_visibility_timeout_s must be >= jobs_lease_s")
        if self.lambda_jobs_timeout_s < MIN_JOBS_FUNCTION_TIMEOUT_S:
            raise SettingsError(
                f"jobs_visibility_timeout_s must be >= {6 * MIN_JOBS_FUNCTION_TIMEOUT_S}: the jobs "
                f"function's timeout is a sixth of it, at least {MIN_JOBS_FUNCTION_TIMEOUT_S} s"
            )
        if self.jobs_max_concurrency < 2:
            raise SettingsError("jobs_max_concurrency must be >= 2 (an SQS event source minimum)")
        if not 1 <= self.proxy_max_connections_percent <= 100:
            raise SettingsError("proxy_max_connections_percent must be within 1..100")
        if not 0 <= self.proxy_statement_cache_size <= 10_000:
            raise SettingsError("proxy_statement_cache_size must be within 0..10000 (the app's)")
        for name in ("cors_origins", "files_cors_origins"):
            origins = getattr(self, name)
            if "*" in origins and len(origins) > 1:
                raise SettingsError(f"{name}: '*' cannot be combined with other origins")
        instance_vcpus(self.ec2_instance_type)  # an unknown type: the known ones, at synth
        if self.ec2_max_instances < 2 or self.ec2_min_instances >= self.ec2_max_instances:
            # A rolling update keeps one instance serving while it replaces another, and
            # target tracking needs room above the minimum to scale into.
            raise SettingsError("ec2_max_instances must be >= 2 and > ec2_min_instances")
        if self.lambda_deployment not in LAMBDA_DEPLOYMENTS:
            raise SettingsError(
                f"lambda_deployment: unknown {self.lambda_deployment!r}; "
                f"choose from {list(LAMBDA_DEPLOYMENTS)}"
            )
        if self.rollback_5xx_count < 0 or self.rollback_p99_ms < 1:
            raise SettingsError("rollback_5xx_count must be >= 0 and rollback_p99_ms >= 1")
        for target in PROXY_TARGETS:
            knob = f"{target.replace('-', '_')}_certificate_arn"
            arn = getattr(self, knob)
            if arn and not _ACM_ARN.fullmatch(arn):
                raise SettingsError(
                    f"{knob} must be an ACM certificate ARN "
                    "(arn:aws:acm:<region>:<account>:certificate/<id>)"
                )
        for target in TARGETS:
            prefix = target.replace("-", "_")
            domain = getattr(self, f"{prefix}_domain_name")
            cert = getattr(self, f"{prefix}_certificate_arn")
            if bool(domain) != bool(cert):
                raise SettingsError(
                    f"{prefix}_domain_name and {prefix}_certificate_arn go together"
                )
        lambda_mi.validate(self)

    # --- derived values

    @property
    def max_connections(self) -> int:
        if self.db_max_connections is not None:
            return self.db_max_connections
        size = self.db_instance_class.split(".")[-1]
        return _MAX_CONNECTIONS.get(size, 100)

    @property
    def ec2_workers(self) -> int:
        return self.ec2_web_workers or instance_vcpus(self.ec2_instance_type)

    @property
    def lambda_jobs_timeout_s(self) -> int:
        # AWS: a queue's visibility timeout should be at least six times the timeout of the
        # function its event source invokes, so the records of a slow batch (run one after
        # another) are not delivered again mid-batch and climb toward maxReceiveCount.
        # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
        return min(self.jobs_visibility_timeout_s // 6, 900)

    @property
    def worker_pool_size(self) -> int:
        # One connection per concurrent job, plus one for the sweep and DLQ check.
        return self.worker_concurrency + 1

    def connection_budget(self) -> dict[str, int]:
        """Worst-case database connections per consumer, for the targets synthesized."""
        budget: dict[str, int] = {"reserved": RESERVED_CONNECTIONS}
        if self.proxy_targets:
            budget[f"RDS Proxy ({', '.join(self.proxy_targets)})"] = self.proxy_share
        if "fargate" in self.targets:
            per_process = self.fargate_db_pool_size + self.fargate_db_max_overflow
            budget["fargate web"] = self.fargate_max_tasks * self.fargate_web_workers * per_process
            budget["fargate worker"] = self.fargate_worker_max_tasks * self.worker_pool_size
        if "ec2" in self.targets:
            per_process = self.ec2_db_pool_size + self.ec2_db_max_overflow
            budget["ec2 web"] = self.ec2_max_instances * self.ec2_workers * per_process
            budget["ec2 worker"] = self.ec2_max_instances * self.worker_pool_size
        return budget

    def check_connection_budget(self) -> None:
        budget = self.connection_budget()
        total = sum(budget.values())
        if total > self.max_connections:
            parts = ", ".join(f"{name} {count}" for name, count in budget.items())
            raise SettingsError(
                f"connection budget exceeded: the targets can open {total} database connections "
                f"({parts}) but max_connections is {self.max_connections} "
                f"(db_instance_class {self.db_instance_class}). Lower max tasks/instances, "
                "workers or pool sizes, lower proxy_max_connections_percent, deploy fewer "
                "targets (-c targets=...), or raise db_max_connections / db_instance_class."
            )
        if "lambda-mi" in self.targets:
            lambda_mi.check_budget(self, self.proxy_share)

    @property
    def proxy_targets(self) -> tuple[str, ...]:
        """The synthesized targets that share RDS Proxy (it exists when this is not empty)."""
        return tuple(t for t in PROXY_TARGETS if t in self.targets)

    @property
    def proxy_share(self) -> int:
        """Database connections RDS Proxy may open: its share of ``max_connections``."""
        return self.max_connections * self.proxy_max_connections_percent // 100

    @property
    def page_origins(self) -> tuple[str, ...]:
        """The origins the upload page is served from that are known at synth: each target's
        own domain (the default URLs are only known once deployed)."""
        names = (
            self.lambda_domain_name,
            self.lambda_mi_domain_name,
            self.fargate_domain_name,
            self.ec2_domain_name,
        )
        return tuple(f"https://{name}" for name in names if name)

    @property
    def files_origins(self) -> tuple[str, ...]:
        """FILES_CORS_ORIGINS as deployed: a narrowed list also admits every page origin, so
        the upload page on a target's own domain can POST to the bucket ("*" admits all)."""
        if "*" in self.files_cors_origins or not self.files_cors_origins:
            return self.files_cors_origins
        extra = [o for o in self.page_origins if o not in self.files_cors_origins]
        return (*self.files_cors_origins, *extra)

    @property
    def lambda_certificate_region(self) -> str | None:
        if not self.lambda_certificate_arn:
            return None
        return self.lambda_certificate_arn.split(":")[3]

    def lambda_runtime(self, target: str = "lambda") -> tuple[str, str]:
        """(architecture, Python version) a Lambda target's functions run on: ``lambda`` (the
        on-demand functions) or ``lambda-mi`` (Lambda Managed Instances)."""
        if target == "lambda":
            return self.lambda_architecture, self.lambda_python
        if target == "lambda-mi":
            return self.lambda_mi_architecture, self.lambda_mi_python
        raise SettingsError(f"{target} is not a Lambda target")

    def custom_domain(self, target: str) -> tuple[str | None, str | None]:
        """(domain name, certificate ARN) ``target`` serves HTTPS on, from its knobs
        ``<target>_domain_name`` and ``<target>_certificate_arn``: (None, None) leaves a
        container target behind CloudFront and a Lambda target on its HTTP API's own URL."""
        domains = {
            "lambda": (self.lambda_domain_name, self.lambda_certificate_arn),
            "lambda-mi": (self.lambda_mi_domain_name, self.lambda_mi_certificate_arn),
            "fargate": (self.fargate_domain_name, self.fargate_certificate_arn),
            "ec2": (self.ec2_domain_name, self.ec2_certificate_arn),
        }
        if target not in domains:
            raise SettingsError(f"{target} takes no domain of its own here")
        return domains[target]

    def bucket_cors_rules(self) -> list[dict[str, Any]]:
        """Bucket CORS from ``files_cors_origins`` (the app's FILES_CORS_ORIGINS).

        The same rule as ``app.files.cors.bucket_cors_rules``, which the local moto bucket
        uses; cdk never imports app, so it is restated here (tests/cdk compares the two).
        """
        if not self.files_origins:
            return []
        return [
            {
                "allowed_origins": list(self.files_origins),
                "allowed_methods": ["POST", "GET", "HEAD"],
                "allowed_headers": ["*"],
                "exposed_headers": ["ETag", "Location"],
                "max_age": 3000,
            }
        ]

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> DeploySettings:
        """Build from CDK context (``node.try_get_context``): strings from ``-c`` are parsed,
        over the stage's values and its profile's (an explicit ``-c`` always wins)."""
        stage = str(get("stage") or "").strip() or None
        if stage is not None and stage not in STAGES:
            raise SettingsError(f"stage: unknown {stage!r}; choose from {list(STAGES)}")
        staged = dict(STAGES[stage]) if stage else {}
        profile = str(get("profile") or staged.pop("profile", "default")).strip()
        staged.pop("profile", None)
        if profile not in PROFILES:
            raise SettingsError(f"profile: unknown {profile!r}; choose from {list(PROFILES)}")
        values: dict[str, Any] = {**PROFILES[profile], **staged, "profile": profile}
        if stage:
            values |= {"stage": stage, "stack_prefix": f"Trident-{stage}"}
        hints = get_type_hints(cls)
        for spec in fields(cls):
            raw = get(spec.name)
            if raw is None:
                continue
            values[spec.name] = _coerce(spec.name, raw, hints[spec.name])
        return cls(**values)

    @classmethod
    def of_profile(cls, profile: str) -> DeploySettings:
        """A profile's knobs, nothing else overridden."""
        return cls.from_context({"profile": profile}.get)

    def replace(self, **changes: Any) -> DeploySettings:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, raw: Any, hint: Any) -> Any:
    """Parse a context value (a string from ``-c``, or JSON from cdk.json) into the field's type."""
    args = [arg for arg in get_args(hint) if arg is not type(None)]
    optional = type(None) in get_args(hint)
    base = get_origin(hint) or hint
    if optional:
        base = get_origin(args[0]) or args[0]
    text = raw.strip() if isinstance(raw, str) else raw
    try:
        if optional and text in ("", "none", "null"):
            return None
        if base is tuple:
            if isinstance(text, str):
                text = json.loads(text) if text.startswith("[") else text.split(",")
            return tuple(str(item).strip() for item in text if str(item).strip())
        if base is bool:
            if isinstance(text, bool):
                return text
            lowered = str(text).lower()
            if lowered not in _BOOLEANS:
                raise ValueError(text)
            return _BOOLEANS[lowered]
        if base is int:
            if isinstance(text, bool):
                raise ValueError(text)
            return int(text)
        return str(text)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"context {name}={raw!r} is not a valid {hint}") from exc


_ACM_ARN = re.compile(r"arn:aws[\w-]*:acm:[a-z0-9-]+:\d{12}:certificate/[\w-]+")
_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True}
_BOOLEANS |= {"false": False, "0": False, "no": False, "off": False}
