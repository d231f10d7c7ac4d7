"""The priced choices beyond sizes: SnapStart on the API function, Fargate Spot for the
worker, a Compute Savings Plan, Graviton (arm64) on any target. What each adds, which items
a Savings Plan discounts, the inputs they must satisfy, and the notes they need."""

from __future__ import annotations

import platform

from bench.cost.inputs import InputError, Inputs
from bench.cost.prices import PRICES_PATH, Prices
from deployment.instances import INSTANCE_VCPUS, instance_architecture, instance_vcpus

ARCHITECTURES = ("x86_64", "arm64")
# What a Compute Savings Plan covers (and what it does not), as the model applies it.
SAVINGS_PLAN_SOURCE = "https://aws.amazon.com/savingsplans/compute-pricing/"
SAVINGS_PLAN_COVERS = (
    "Fargate vCPU and memory, EC2 instance hours and Lambda duration (GB-seconds, init "
    "included); not requests, SnapStart, Spot or any other service"
)


def ec2_price_name(instance_type: str) -> str:
    return f"ec2_hour_{instance_type.replace('.', '_')}"


def check(inputs: Inputs, prices: Prices) -> None:
    """Refuse, before pricing anything, a choice the model cannot price."""
    i = inputs
    if not 0 <= i.savings_plan_discount < 1:
        raise InputError(f"savings_plan_discount={i.savings_plan_discount}: a fraction, 0 <= d < 1")
    for name in ("lambda_architecture", "fargate_architecture"):
        if getattr(i, name) not in ARCHITECTURES:
            raise InputError(f"{name}={getattr(i, name)!r}: one of {', '.join(ARCHITECTURES)}")
    if i.lambda_snapstart and i.lambda_snapstart_versions < 1:
        raise InputError("lambda_snapstart_versions: at least 1 (the live version)")
    if i.lambda_restore_ms < 0:
        raise InputError("lambda_restore_ms: not negative")
    for name in ("ec2_instance_type", "lambda_mi_instance_type"):
        _check_priced(name, getattr(i, name), prices)
    env_vcpus = i.lambda_mi_memory_mb / 1024 / i.lambda_mi_memory_per_vcpu
    if env_vcpus > instance_vcpus(i.lambda_mi_instance_type):
        raise InputError(
            f"lambda_mi_instance_type={i.lambda_mi_instance_type!r} cannot hold an execution "
            f"environment of {env_vcpus:g} vCPUs (lambda_mi_memory_mb / 1024 / "
            "lambda_mi_memory_per_vcpu)"
        )


def _check_priced(name: str, instance_type: str, prices: Prices) -> None:
    """An instance type the model knows (its vCPUs) and has a price for."""
    try:
        instance_vcpus(instance_type)
    except ValueError as exc:
        raise InputError(f"{name}: {exc}") from None
    if ec2_price_name(instance_type) not in prices.items:
        priced = sorted(
            (
                kind.removeprefix("ec2_hour_").replace("_", ".", 1)
                for kind in prices.items
                if kind.startswith("ec2_hour_")
            ),
            key=lambda kind: (kind.split(".")[0], INSTANCE_VCPUS.get(kind, 0)),
        )
        raise InputError(
            f"{name}={instance_type!r} has no price in {PRICES_PATH.name}; "
            f"priced: {', '.join(priced)} (add [{ec2_price_name(instance_type)}] there)"
        )


def snapstart(inputs: Inputs, prices: Prices, *, cold_starts: float) -> dict[str, float]:
    """SnapStart's own charges: each live version's snapshot cached all month, and one
    restore per cold start, both by the function's memory. (Its billed restore duration
    replaces the init in ``lambda_init``.)"""
    gb = inputs.lambda_memory_mb / 1024
    cached = inputs.lambda_snapstart_versions * gb * prices.seconds_per_month
    return {
        "snapstart_cache": prices["lambda_snapstart_cache_gb_second"].cost(cached),
        "snapstart_restore": prices["lambda_snapstart_restore_gb"].cost(cold_starts * gb),
    }


def host_architecture() -> str:
    """This machine's architecture, in Lambda's and Fargate's words."""
    machine = platform.machine().lower()
    return "arm64" if machine in {"arm64", "aarch64"} else "x86_64"


def notes(inputs: Inputs) -> list[str]:
    """What the chosen options mean for the numbers."""
    i = inputs
    out = []
    host = host_architecture()
    elsewhere = [
        name
        for name, arch in (
            ("Lambda", i.lambda_architecture),
            ("Fargate", i.fargate_architecture),
            (f"EC2 ({i.ec2_instance_type})", instance_architecture(i.ec2_instance_type)),
        )
        if arch != host
    ]
    if elsewhere:
        other = "arm64" if host == "x86_64" else "x86_64"
        out.append(
            f"CPU per request (server_cpu_ms, the Lambda duration, job_cpu_ms) was measured "
            f"(or assumed) on {host} here and is applied unchanged to {other} on "
            f"{', '.join(elsewhere)}: its own speed per request is not measured."
        )
    if i.lambda_snapstart:
        out.append(
            f"SnapStart: {i.lambda_snapstart_versions} version(s) of the API function cached "
            "all month, one restore per cold start (per GB of memory), and each cold start "
            f"bills its restore ({i.lambda_restore_ms:g} ms) instead of the init; the init "
            "before each snapshot (once per deploy) is billed too, under a cent, not priced."
        )
    if i.fargate_worker_spot:
        out.append(
            "The Fargate worker runs on Fargate Spot at its last known price (AWS moves it "
            "with supply and demand); a Spot task may be stopped with two minutes' notice, "
            "and jobs then wait in the queue."
        )
    if i.savings_plan_discount:
        out.append(
            f"A Compute Savings Plan at {i.savings_plan_discount:.0%} off covers "
            f"{SAVINGS_PLAN_COVERS} ({SAVINGS_PLAN_SOURCE}); one rate for all three is a "
            "simplification: AWS's rates differ by service, term and payment, and a plan "
            "only discounts usage up to its hourly commitment."
        )
    return out
