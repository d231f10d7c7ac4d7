"""What a bench run measured, as cost-model inputs: the latest bench/results/*/results.json
and the mix-weighted figures taken from it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.cost.inputs import MIX_ENDPOINTS, Inputs, lambda_cpu_scale

RESULTS_DIR = Path(__file__).parent.with_name("results")


def _mixed(scenarios: Mapping[str, Mapping[str, Any]], key: str, inputs: Inputs) -> float | None:
    """The mix-weighted mean of ``key`` over the mix's endpoints, if all were measured."""
    weights = {
        "read": inputs.mix_read,
        "presign": inputs.mix_presign,
        "enqueue": inputs.mix_enqueue,
    }
    weighted = 0.0
    for name in MIX_ENDPOINTS:
        value = scenarios.get(name, {}).get(key)
        if value is None:
            return None
        weighted += weights[name] * float(value)
    return weighted / sum(weights.values())


def _jobs_mixed(jobs: Mapping[str, Mapping[str, Any]], key: str, inputs: Inputs) -> float | None:
    """``key`` of the measured jobs weighted by the jobs the mix makes: an ingest per upload
    (mix_presign), an export standing for every submitted job (mix_enqueue)."""
    weights = {"ingest": inputs.mix_presign, "export": inputs.mix_enqueue}
    weighted = 0.0
    for kind, weight in weights.items():
        value = jobs.get(kind, {}).get(key)
        if value is None:
            return None
        weighted += weight * float(value)
    total = sum(weights.values())
    return weighted / total if total > 0 else None


def measured_inputs(results: Mapping[str, Any], inputs: Inputs) -> Inputs:
    """``inputs`` with what a bench run measured (results.json of ``python -m bench all``)."""
    found: dict[str, Any] = {}
    coldstart = results.get("coldstart") or {}
    if "app_init_ms" in coldstart:
        found["lambda_init_ms"] = float(coldstart["app_init_ms"])
    load = results.get("load") or {}
    warm = load.get("lambda_warm") or {}
    derived: dict[str, Any] = {}
    if duration := _mixed(warm, "mean_ms", inputs):
        found["lambda_duration_ms"] = duration
        # An assumption about Lambda's CPU, applied because the duration is local.
        scale = lambda_cpu_scale(inputs.lambda_memory_mb)
        derived["lambda_cpu_scale"] = scale
        # Billed per invoke only where the run scaled its invokes as this model would (older
        # runs recorded no scale: their billed means are unscaled).
        scales = [warm[name].get("cpu_scale") for name in MIX_ENDPOINTS]
        billed = _mixed(warm, "billed_ms_mean", inputs)
        if billed is not None and all(x is not None and math.isclose(x, scale) for x in scales):
            found["lambda_billed_ms"] = billed
    for key, name in (("log_bytes", "lambda_log_bytes"), ("log_events", "lambda_log_events")):
        if (value := _mixed(warm, key, inputs)) is not None:
            found[name] = value
    scenarios = load.get("scenarios") or {}
    for key, name in (
        ("server_cpu_ms", "server_cpu_ms"),
        ("log_bytes", "container_log_bytes"),
        ("log_events", "container_log_events"),
        ("request_bytes", "request_bytes"),
        ("response_bytes", "response_bytes"),
    ):
        if (value := _mixed(scenarios, key, inputs)) is not None:
            found[name] = value
    jobs = (results.get("worker") or {}).get("jobs") or {}
    for key, name in (("duration_ms_mean", "job_duration_ms"), ("cpu_ms_mean", "job_cpu_ms")):
        if (value := _jobs_mixed(jobs, key, inputs)) is not None:
            found[name] = value
    return inputs.replace(**found, **derived, measured=inputs.measured | set(found))


def latest_results(results_dir: Path = RESULTS_DIR) -> Path | None:
    """The newest bench/results/<date>-<sha>/results.json, if any."""
    runs = sorted(results_dir.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return runs[-1] if runs else None
