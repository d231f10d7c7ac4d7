"""How much Lambda Managed Instances capacity a load keeps running: execution environments
and the EC2 instances under them (the ``lambda_mi`` target, Trident-LambdaMI).

Lambda scales a capacity provider asynchronously on CPU utilisation and on how many of each
environment's processes are busy (multi-concurrency saturation), and launches three
instances for AZ resiliency whatever the load
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-scaling.html). The
model sizes for the peak, as it does the containers: enough environments that the peak's CPU
stays at ``cpu_target_percent`` of theirs and its requests in flight fit their processes,
at least ``lambda_mi_min_environments``; then enough instances of the priced type to hold
those environments, at least ``lambda_mi_min_instances``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.cost.inputs import Inputs
from deployment.instances import instance_vcpus


@dataclass(frozen=True)
class MiSizing:
    """The peak's capacity: ``environments`` on ``instances``, and what sized them."""

    environments: int
    instances: int
    busy_vcpus: float  # CPU the peak keeps busy
    in_flight: float  # requests in flight at the peak (one per busy process)
    env_vcpus: float  # vCPUs of one environment
    vcpus: int  # of all the instances: what lambda_mi_max_vcpus bounds


def env_vcpus(inputs: Inputs) -> float:
    """An execution environment's vCPUs: its memory over the memory per vCPU."""
    return inputs.lambda_mi_memory_mb / 1024 / inputs.lambda_mi_memory_per_vcpu


def size(inputs: Inputs, rps: float) -> MiSizing:
    i = inputs
    peak = rps * i.peak_ratio
    per_env = env_vcpus(i)
    busy = peak * i.mi_cpu_ms() / 1000
    # Each process serves one request at a time for its whole (wall) duration.
    in_flight = peak * i.lambda_duration_ms / 1000
    needed = max(
        busy / (per_env * i.cpu_target_percent / 100),
        in_flight / i.lambda_mi_per_env_concurrency,
    )
    environments = max(i.lambda_mi_min_environments, units(needed))
    type_vcpus = instance_vcpus(i.lambda_mi_instance_type)
    per_instance = max(1, math.floor(type_vcpus / per_env))
    instances = max(i.lambda_mi_min_instances, units(environments / per_instance))
    return MiSizing(
        environments=environments,
        instances=instances,
        busy_vcpus=busy,
        in_flight=in_flight,
        env_vcpus=per_env,
        vcpus=instances * type_vcpus,
    )


def units(needed: float) -> int:
    """Whole tasks, instances or environments for ``needed`` of them (7.000000000000001
    is 7)."""
    return math.ceil(round(needed, 9))
