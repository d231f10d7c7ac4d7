"""How each crossover moves when one assumption does: the request mix, the CPU a request
costs a container, the cold-start rate and the peak-to-average ratio."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bench.cost.inputs import Inputs
from bench.cost.model import Model
from bench.cost.prices import Prices

# Each priced against Lambda (on demand): where it gets cheaper.
COMPARED = ("lambda_mi", "fargate", "ec2")


def _variants(base: Inputs) -> Iterator[tuple[str, float, Inputs]]:
    others = base.mix_presign + base.mix_enqueue
    for read in (0.90, base.mix_read, 0.99):
        # The other endpoints keep their proportions to each other.
        scale = (1 - read) / others if others else 0.0
        yield (
            "mix_read",
            read,
            base.replace(
                mix_read=read,
                mix_presign=base.mix_presign * scale,
                mix_enqueue=1 - read - base.mix_presign * scale,
            ),
        )
    for factor in (0.5, 1.0, 2.0):
        cpu = base.server_cpu_ms * factor
        yield "server_cpu_ms", cpu, base.replace(server_cpu_ms=cpu)
    for rate in sorted({0.0001, 0.001, base.cold_start_rate, 0.05}):
        yield "cold_start_rate", rate, base.replace(cold_start_rate=rate)
    for peak in sorted({1.5, base.peak_ratio, 6.0}):
        yield "peak_ratio", peak, base.replace(peak_ratio=peak)


def crossovers(inputs: Inputs, prices: Prices) -> dict[str, dict[str, int | None]]:
    """{"crossover_rps": {...}, "crossover_rps_direct_alb": {...}} for these inputs."""
    cloudfront = Model(inputs.replace(direct_alb=False), prices)
    direct = Model(inputs.replace(direct_alb=True), prices)
    return {
        "crossover_rps": {t: cloudfront.crossover(t) for t in COMPARED},
        "crossover_rps_direct_alb": {t: direct.crossover(t) for t in COMPARED},
    }


def sensitivity(inputs: Inputs, prices: Prices) -> list[dict[str, Any]]:
    """One row per assumption and value: the crossovers in both front-door modes."""
    rows = []
    for name, value, varied in _variants(inputs):
        rows.append(
            {
                "input": name,
                "value": round(value, 6),
                "base": value == getattr(inputs, name),
                **crossovers(varied, prices),
            }
        )
    return rows
