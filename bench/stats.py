"""Latency statistics for every stage of the bench: one definition of a percentile, so local,
Lambda and remote figures are computed alike."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN for an empty one)."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass(frozen=True)
class Latencies:
    """Percentiles and mean of samples, in the samples' unit; NaN when there are none."""

    count: int
    p50: float
    p90: float
    p99: float
    mean: float

    @classmethod
    def of(cls, samples: Iterable[float]) -> Latencies:
        ordered = sorted(samples)
        return cls(
            count=len(ordered),
            p50=percentile(ordered, 50),
            p90=percentile(ordered, 90),
            p99=percentile(ordered, 99),
            mean=statistics.fmean(ordered) if ordered else math.nan,
        )
