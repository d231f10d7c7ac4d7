"""The report's charts (PNG, matplotlib's Agg backend): cost per target over RPS, cold starts,
latency percentiles."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.cost.model import CONTAINERS, TARGETS
from bench.report.text import TARGET_NAMES

COLORS = {"lambda": "#d9822b", "lambda_mi": "#8e44ad", "fargate": "#2b7bd9", "ec2": "#3a9a4a"}
# Where each crossover's label sits beside its point (points of offset).
LABEL_OFFSETS = {"lambda_mi": (-190, 16), "fargate": (-100, 22), "ec2": (8, -30)}
CHARTS = ("cost.png", "coldstart.png", "latency.png")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def cost_chart(results: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    cost = results["cost"]
    curve = results.get("cost_curve") or {
        "rps": [float(k) for k in cost["monthly_usd"]["lambda"]],
        **{t: list(v.values()) for t, v in cost["monthly_usd"].items()},
    }
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for target in (t for t in TARGETS if t in curve):  # results before lambda_mi lack it
        label = TARGET_NAMES[target] + (" behind CloudFront" if target in CONTAINERS else "")
        axes.plot(curve["rps"], curve[target], label=label, color=COLORS[target], lw=1.8)
        if f"{target}_direct_alb" in curve:
            axes.plot(
                curve["rps"],
                curve[f"{target}_direct_alb"],
                label=f"{TARGET_NAMES[target]} on a direct ALB (own domain)",
                color=COLORS[target],
                lw=1.2,
                ls="--",
            )
    for target, rps in cost["crossover_rps"].items():
        if rps is None or target not in curve:
            continue
        at = _interpolate(curve["rps"], curve[target], rps)
        axes.axvline(rps, color=COLORS[target], ls=":", lw=1)
        axes.plot([rps], [at], "o", color=COLORS[target], ms=5)
        axes.annotate(
            f"{TARGET_NAMES[target]} < Lambda\nfrom {rps:,} RPS",
            (rps, at),
            textcoords="offset points",
            xytext=LABEL_OFFSETS.get(target, (8, 14)),
            fontsize=8,
            color=COLORS[target],
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("average requests per second")
    axes.set_ylabel("USD per month (us-east-1, on demand)")
    axes.set_title("Monthly cost per target, everything its deployment creates")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _interpolate(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """Log-log interpolation of ``ys`` at ``x`` (the chart's own scale)."""
    for (x0, y0), (x1, y1) in itertools.pairwise(zip(xs, ys, strict=True)):
        if x0 <= x <= x1 and x0 > 0 and y0 > 0 and y1 > 0:
            t = (math.log(x) - math.log(x0)) / ((math.log(x1) - math.log(x0)) or 1)
            return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))
    return ys[-1]


def coldstart_chart(results: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    bars: list[tuple[str, list[float], str]] = []
    coldstart = results.get("coldstart") or {}
    if coldstart:
        app_runs = list(coldstart.get("app_total_runs_ms") or [])
        base_runs = list(coldstart.get("baseline_total_runs_ms") or [])
        app_runs = app_runs or [coldstart["app_init_ms"] + coldstart["app_first_invoke_ms"]]
        base_runs = base_runs or [
            coldstart["baseline_init_ms"] + coldstart["baseline_first_invoke_ms"]
        ]
        bars += [
            ("Lambda\nfull app", app_runs, COLORS["lambda"]),
            ("Lambda\nFastAPI+Mangum", base_runs, "#f0b27a"),
        ]
    container = (results.get("load") or {}).get("container_coldstart")
    if container:
        bars += [
            ("Gunicorn\nfull app", container["app"]["runs_ms"], COLORS["fargate"]),
            ("Gunicorn\nFastAPI hello", container["baseline"]["runs_ms"], "#8fb8ea"),
        ]
    figure, axes = plt.subplots(figsize=(7, 3.8))
    if bars:
        import statistics

        medians = [statistics.median(runs) for _, runs, _ in bars]
        low = [m - min(runs) for m, (_, runs, _) in zip(medians, bars, strict=True)]
        high = [max(runs) - m for m, (_, runs, _) in zip(medians, bars, strict=True)]
        positions = range(len(bars))
        axes.bar(
            positions,
            medians,
            yerr=[low, high],
            capsize=4,
            color=[color for _, _, color in bars],
        )
        for x, median in zip(positions, medians, strict=True):
            axes.annotate(
                f"{median:,.0f} ms", (x, median), ha="center", va="bottom", fontsize=8,
                textcoords="offset points", xytext=(0, 3),
            )  # fmt: skip
        axes.set_xticks(list(positions), [label for label, _, _ in bars])
    axes.set_ylabel("ms to the first 200 on /health")
    axes.set_title("Cold start: median, bars from min to max over the runs")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def latency_chart(results: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    load = results.get("load") or {}
    scenarios = load.get("scenarios") or {}
    warm = load.get("lambda_warm") or {}
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3.8), width_ratios=(5, 4))
    for axes, data, title in (
        (left, scenarios, f"Gunicorn, 2 workers, {load.get('concurrency', '?')} connections"),
        (right, warm, "Lambda handler, in-process, per invoke"),
    ):
        names = list(data)
        width = 0.26
        for offset, (key, shade) in enumerate((("p50_ms", 1.0), ("p90_ms", 0.7), ("p99_ms", 0.45))):
            axes.bar(
                [i + (offset - 1) * width for i in range(len(names))],
                [data[name][key] for name in names],
                width,
                label=key.removesuffix("_ms"),
                color=(0.17, 0.48, 0.85, shade) if axes is left else (0.85, 0.51, 0.17, shade),
            )
        axes.set_xticks(range(len(names)), names)
        axes.set_yscale("log")
        axes.set_ylabel("ms")
        axes.set_title(title, fontsize=9)
        axes.legend(fontsize=8)
    figure.suptitle("Latency percentiles (log scale)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
