"""What the load JSON holds, and how measurements become it: a scenario under load, its
ratios to the baseline and the floor, a cold start's spread, the Lambda warm path."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from bench.stats import Latencies
from bench.warm_invokes import WarmSamples


@dataclass(frozen=True)
class Scenario:
    """One endpoint under load. Latencies in ms; ``server_cpu_ms`` is the server's CPU time
    per request; ``log_*`` what it logged per request; ``*_bytes`` per request on the wire."""

    method: str
    path: str
    expected_status: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    server_cpu_ms: float
    request_bytes: float
    response_bytes: float
    log_bytes: float
    log_events: float
    # New database connections opened while measuring (0 in a steady state).
    connects: int | None = None
    rps_ratio_to_baseline: float | None = None
    p50_ratio_to_baseline: float | None = None
    rps_ratio_to_floor: float | None = None
    cpu_ratio_to_floor: float | None = None


def with_ratios(scenario: Scenario, base: Scenario, *, floor: Scenario) -> Scenario:
    """``scenario`` with its ratios to the hello world and, for a ``GET /v1/...`` other than
    the floor itself, to the same-stack floor."""
    values = asdict(scenario)
    values["rps_ratio_to_baseline"] = round(scenario.rps / base.rps, 3) if base.rps else None
    values["p50_ratio_to_baseline"] = (
        round(scenario.p50_ms / base.p50_ms, 3) if base.p50_ms else None
    )
    if scenario is not floor and scenario.path.startswith("/v1/") and scenario.method == "GET":
        values["rps_ratio_to_floor"] = round(scenario.rps / floor.rps, 3) if floor.rps else None
        values["cpu_ratio_to_floor"] = (
            round(scenario.server_cpu_ms / floor.server_cpu_ms, 3) if floor.server_cpu_ms else None
        )
    return Scenario(**values)


def spread(samples: list[float]) -> dict[str, Any]:
    """A cold start's runs: ``median_ms``, ``min_ms``, ``max_ms`` and ``runs_ms``."""
    return {
        "median_ms": round(statistics.median(samples), 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "runs_ms": [round(sample, 1) for sample in samples],
    }


@dataclass(frozen=True)
class LambdaWarm:
    """Per-invoke wall time of the handler in-process (ms), what Lambda would bill for it
    (each invoke's time x ``cpu_scale``, rounded up to 1 ms, then averaged: Lambda rounds
    its own duration, so the scale comes first), and what it logged per invoke."""

    invokes: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    billed_ms_mean: float
    # Local time -> Lambda's at the deployed memory (bench.cost.inputs.lambda_cpu_scale).
    cpu_scale: float
    log_bytes: float
    log_events: float

    @classmethod
    def of(cls, measured: WarmSamples, *, cpu_scale: float = 1.0) -> LambdaWarm:
        samples = measured.samples_ms()
        latencies = Latencies.of(samples)
        count = latencies.count
        return cls(
            invokes=count,
            p50_ms=round(latencies.p50, 3),
            p90_ms=round(latencies.p90, 3),
            p99_ms=round(latencies.p99, 3),
            mean_ms=round(latencies.mean, 3),
            billed_ms_mean=round(billed_ms_mean(samples, cpu_scale), 3),
            cpu_scale=cpu_scale,
            log_bytes=round(measured.log_bytes / count, 1),
            log_events=round(measured.log_lines / count, 3),
        )


def billed_ms_mean(samples_ms: list[float], cpu_scale: float) -> float:
    """Lambda's billed duration per invoke, averaged: each sample scaled, then rounded up."""
    return sum(math.ceil(sample * cpu_scale) for sample in samples_ms) / len(samples_ms)
