"""Lambda Managed Instances (the ``lambda-mi`` target): its knobs' rules and its worst case.

The API function runs on a capacity provider: EC2 instances Lambda launches and scales in the
VPC's private subnets. Python there runs one request per process, several processes per
execution environment, each with its own init, engine and pool of 1 through RDS Proxy; so
the database sees up to (execution environments x processes per environment) clients.
Facts from the AWS Lambda developer guide, checked 2026-12:

- Python 3.13 and later only; "multiple Python processes where each concurrent request runs in
  a separate process" and ``/tmp`` is shared between them.
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-runtimes.html
- ``PerExecutionEnvironmentMaxConcurrency`` is also the number of Python processes per
  environment (default 16 per vCPU); total memory = per-process memory x processes.
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-python-runtime.html
- ``ExecutionEnvironmentMemoryGiBPerVCpu`` 2.0 to 8.0 (CDK's default 2); the smallest function
  is 2 GB and 1 vCPU, and Python should prefer 4:1 or 8:1.
  https://docs.aws.amazon.com/lambda/latest/api/API_LambdaManagedInstancesCapacityProviderConfig.html
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-best-practices.html
- ``MaxVCpuCount`` bounds the vCPUs of all the provider's instances (API: 2 to 15000; CDK
  2.275's ``CapacityProvider`` refuses below 12). One architecture per provider; allowed or
  excluded instance types, not both.
  https://docs.aws.amazon.com/lambda/latest/api/API_CapacityProviderScalingConfig.html
  https://docs.aws.amazon.com/lambda/latest/api/API_InstanceRequirements.html
- Publishing a version launches three instances and three execution environments by default
  (AZ resiliency); scaling follows CPU asynchronously, and traffic that more than doubles
  within 5 minutes may be throttled.
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-scaling.html
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployment.errors import SettingsError
from deployment.instances import instance_architecture

if TYPE_CHECKING:
    from deployment.settings import DeploySettings

MIN_PYTHON = (3, 13)
MEMORY_GIB_PER_VCPU = (2, 4, 8)  # the ratios AWS names; the API takes 2.0..8.0
MIN_MEMORY_MB = 2048
MAX_MEMORY_MB = 32768
MIN_MAX_VCPUS = 12  # CDK's CapacityProvider check (the API alone would take 2)
MAX_MAX_VCPUS = 15000
MAX_PER_ENV_CONCURRENCY = 1600


def vcpus_per_environment(settings: DeploySettings) -> float:
    """An execution environment's vCPUs: its memory over the memory per vCPU."""
    return settings.lambda_mi_memory / 1024 / settings.lambda_mi_memory_per_vcpu


def max_environments(settings: DeploySettings) -> int:
    """The most execution environments the provider's vCPUs can hold (an upper bound: the
    instances' own agent takes some of each), or the function's cap when lower."""
    by_vcpus = int(settings.lambda_mi_max_vcpus // vcpus_per_environment(settings))
    cap = settings.lambda_mi_max_environments
    return by_vcpus if cap is None else min(by_vcpus, cap)


def max_processes(settings: DeploySettings) -> int:
    """Worst-case Python processes, each one database client (pool of 1) of RDS Proxy."""
    return max_environments(settings) * settings.lambda_mi_per_env_concurrency


def validate(settings: DeploySettings) -> None:
    """The ``lambda_mi_*`` knobs, each refused by name (checked even when the target is not
    synthesized, so a typo never waits for the day it is)."""
    from deployment.bytecode import LAMBDA_PYTHONS

    python = settings.lambda_mi_python
    if python not in LAMBDA_PYTHONS or tuple(map(int, python.split("."))) < MIN_PYTHON:
        usable = [v for v in LAMBDA_PYTHONS if tuple(map(int, v.split("."))) >= MIN_PYTHON]
        raise SettingsError(
            f"lambda_mi_python: {python!r} cannot run on Lambda Managed Instances (Python "
            f"3.13 or later) with a bundle built here; choose from {usable}"
        )
    if settings.lambda_mi_architecture not in ("x86_64", "arm64"):
        raise SettingsError("lambda_mi_architecture must be x86_64 or arm64")
    for instance_type in settings.lambda_mi_instance_types:
        # An unknown type fails here with the known ones listed.
        if instance_architecture(instance_type) != settings.lambda_mi_architecture:
            raise SettingsError(
                f"lambda_mi_instance_types: {instance_type} is not "
                f"{settings.lambda_mi_architecture} (lambda_mi_architecture): one "
                "architecture per capacity provider; set lambda_mi_instance_types to match "
                "(e.g. m7g.large,m7g.xlarge), or to nothing to let Lambda choose"
            )
    if not MIN_MAX_VCPUS <= settings.lambda_mi_max_vcpus <= MAX_MAX_VCPUS:
        raise SettingsError(
            f"lambda_mi_max_vcpus must be within {MIN_MAX_VCPUS}..{MAX_MAX_VCPUS} "
            "(CDK's capacity provider minimum)"
        )
    if settings.lambda_mi_memory_per_vcpu not in MEMORY_GIB_PER_VCPU:
        raise SettingsError(f"lambda_mi_memory_per_vcpu must be one of {MEMORY_GIB_PER_VCPU}")
    memory = settings.lambda_mi_memory
    per_vcpu_mb = settings.lambda_mi_memory_per_vcpu * 1024
    if not MIN_MEMORY_MB <= memory <= MAX_MEMORY_MB or memory % per_vcpu_mb:
        raise SettingsError(
            f"lambda_mi_memory must be within {MIN_MEMORY_MB}..{MAX_MEMORY_MB} MB and a "
            f"multiple of lambda_mi_memory_per_vcpu ({per_vcpu_mb} MB): whole vCPUs"
        )
    if vcpus_per_environment(settings) > settings.lambda_mi_max_vcpus:
        raise SettingsError("lambda_mi_max_vcpus cannot hold one execution environment")
    if not 1 <= settings.lambda_mi_per_env_concurrency <= MAX_PER_ENV_CONCURRENCY:
        raise SettingsError(
            f"lambda_mi_per_env_concurrency must be within 1..{MAX_PER_ENV_CONCURRENCY}"
        )
    low, high = settings.lambda_mi_min_environments, settings.lambda_mi_max_environments
    if low < 0 or (high is not None and not low <= high <= MAX_MAX_VCPUS):
        raise SettingsError(
            "lambda_mi_min_environments must be >= 0 and <= lambda_mi_max_environments"
        )
    if "lambda-mi" in settings.targets and not {"lambda", "fargate", "ec2"} & set(settings.targets):
        raise SettingsError(
            "targets: lambda-mi has no jobs consumer of its own (jobs run on the on-demand "
            "jobs function); deploy it with lambda, fargate or ec2"
        )


def check_budget(settings: DeploySettings, proxy_share: int) -> None:
    """Every process may hold one RDS Proxy client at once: at its most, the target must fit
    the proxy's share of ``max_connections`` (it multiplexes no more onto the database)."""
    processes = max_processes(settings)
    if processes > proxy_share:
        raise SettingsError(
            f"connection budget exceeded: Lambda Managed Instances can run {processes} "
            f"processes ({max_environments(settings)} execution environments of "
            f"{vcpus_per_environment(settings):g} vCPU x lambda_mi_per_env_concurrency "
            f"{settings.lambda_mi_per_env_concurrency}; lambda_mi_max_vcpus "
            f"{settings.lambda_mi_max_vcpus}, lambda_mi_memory {settings.lambda_mi_memory}, "
            f"lambda_mi_memory_per_vcpu {settings.lambda_mi_memory_per_vcpu}, "
            f"lambda_mi_max_environments {settings.lambda_mi_max_environments}), each one "
            f"RDS Proxy client, but the proxy may open {proxy_share} "
            f"(proxy_max_connections_percent {settings.proxy_max_connections_percent} of "
            f"max_connections {settings.max_connections}). Lower lambda_mi_per_env_concurrency "
            "or lambda_mi_max_vcpus, set lambda_mi_max_environments, or raise "
            "proxy_max_connections_percent / db_max_connections."
        )
