"""EC2 (and RDS) instance types the stacks and the cost model know: vCPUs and architecture.

One table for both: the EC2 stack picks its AMI and Gunicorn workers from it, the cost model its
capacity, and an instance type outside it is refused at synth and by the model alike, with the
known ones listed. vCPU counts are those of AWS's instance type pages
(https://docs.aws.amazon.com/ec2/latest/instancetypes/co.html and gp.html, mo.html).
"""

from __future__ import annotations

from deployment.errors import SettingsError

# Sizes from xlarge up, as N x 4 vCPUs; every family below offers these (most offer more).
_XLARGE_SIZES = {"xlarge": 4, **{f"{n}xlarge": 4 * n for n in (2, 4, 8, 12, 16)}}

# Sizes below xlarge differ by family, and a .medium most of all:
# - Graviton (arm64): a .medium has 1 vCPU, a .large 2.
# - Intel x86_64 (c6i, m6i, ...): no .medium; the smallest is .large with 2.
# - burstable t3 / t4g: every size up to .large has 2 vCPUs (credits, not cores, limit them).
_GRAVITON = {"medium": 1, "large": 2} | _XLARGE_SIZES
_INTEL = {"large": 2} | _XLARGE_SIZES
_BURSTABLE = dict.fromkeys(("nano", "micro", "small", "medium", "large"), 2)
_BURSTABLE |= {"xlarge": 4, "2xlarge": 8}

_FAMILIES: dict[str, dict[str, int]] = {
    **dict.fromkeys(("c6g", "c7g", "c8g", "m6g", "m7g", "m8g", "r6g", "r7g", "r8g"), _GRAVITON),
    **dict.fromkeys(("c6i", "c7i", "m6i", "m7i", "r6i", "r7i"), _INTEL),
    **dict.fromkeys(("t3", "t4g"), _BURSTABLE),
}

INSTANCE_VCPUS: dict[str, int] = {
    f"{family}.{size}": vcpus
    for family, sizes in _FAMILIES.items()
    for size, vcpus in sizes.items()
}


def known_instance_types() -> str:
    """The known types, grouped by the sizes their families share (for error messages)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for family, sizes in _FAMILIES.items():
        groups.setdefault(tuple(sizes), []).append(family)
    return "; ".join(
        f"{', '.join(families)} in {', '.join(sizes)}" for sizes, families in groups.items()
    )


def instance_vcpus(instance_type: str) -> int:
    """vCPUs of an instance type like ``c7g.medium`` (RDS's ``db.`` prefix is ignored)."""
    name = instance_type.removeprefix("db.")
    if name not in INSTANCE_VCPUS:
        raise SettingsError(
            f"unknown instance type {instance_type!r}; known: {known_instance_types()}"
        )
    return INSTANCE_VCPUS[name]


def instance_architecture(instance_type: str) -> str:
    """``arm64`` for a Graviton family (c7g, t4g, ...), else ``x86_64``."""
    instance_vcpus(instance_type)  # an unknown type fails here, not at deploy
    family = instance_type.removeprefix("db.").split(".")[0]
    return "arm64" if family.endswith("g") else "x86_64"
