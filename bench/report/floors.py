"""The report's Floors section: each figure as a ratio to the floor measured in the same run,
beside its goal, and floor_read ÷ hello held to its first recorded value."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.report.text import markdown_table, ms

# The first recorded floor_read ÷ hello: a floor is a fixed reference, so a later run outside
# ±10 % of it says the floor (or the machine) changed, not the app.
FLOORS_FILE = Path(__file__).parent.with_name("floors.toml")
FLOOR_DRIFT_LIMIT = 0.10


def floor_drift(results: Mapping[str, Any]) -> tuple[float, dict[str, Any] | None, bool]:
    """(floor_read ÷ hello of this run, the first recorded one or None, within the limit)."""
    ratio = float(results["load"]["scenarios"]["floor_read"]["rps_ratio_to_baseline"])
    if not FLOORS_FILE.exists():
        return ratio, None, True
    first: dict[str, Any] = tomllib.loads(FLOORS_FILE.read_text())["floor_read"]
    reference = float(first["rps_ratio_to_hello"])
    return ratio, first, abs(ratio / reference - 1) <= FLOOR_DRIFT_LIMIT


def floors_section(results: Mapping[str, Any]) -> list[str]:
    load = results.get("load") or {}
    scenarios = load.get("scenarios") or {}
    coldstart = results.get("coldstart") or {}
    container = load.get("container_coldstart") or {}
    if "floor_read" not in scenarios:
        return []
    out = [
        "## Floors",
        "",
        "Each figure is a ratio to a floor measured in the same run: the FastAPI hello world, "
        "and same-stack floors, minimal apps doing the measured route's work with the same "
        "libraries, settings pinned in their source and never dressed with the app's extras. "
        "`bench/floor_read.py` (containers): PyJWT HS256 with the app's claims, one async "
        "SQLAlchemy ORM `session.get` on `files`, the owner check, a pydantic model, one "
        "session per request, pool 10 + 0, under the same Gunicorn config. "
        "`bench/floor_lambda.py` (Lambda): FastAPI + Mangum, the same token check, one "
        "`session.get` on `users` over asyncpg with an RDS IAM token as the password, pool "
        "1 + 0, bundled like the app.",
        "",
    ]
    read, job, health, floor = (
        scenarios.get(k) for k in ("read", "job_read", "health", "floor_read")
    )
    rows = []
    for label, scenario in (("file read", read), ("job read", job)):
        if scenario and scenario.get("rps_ratio_to_floor") is not None:
            rows.append([f"{label}: RPS ÷ floor", f"{scenario['rps_ratio_to_floor']}", "≥ 0.8"])
            rows.append(
                [f"{label}: server CPU ms ÷ floor", f"{scenario['cpu_ratio_to_floor']}", "≤ 1.25"]
            )
    if read:
        tail = read["p99_ms"] / read["p50_ms"] if read["p50_ms"] else math.nan
        rows.append(["file read: p99 ÷ p50", f"{tail:.2f}", "≤ 2"])
        rows.append(["file read: connections opened while measured", f"{read['connects']}", "0"])
    if health:
        rows.append(["`/health` RPS ÷ hello", f"{health['rps_ratio_to_baseline']}", "≥ 0.7"])
    if "read_ratio" in container:
        rows.append(
            [
                "Gunicorn spawn → every worker's first read ÷ floor",
                f"{container['read_ratio']}",
                "≤ 1.3",
            ]
        )
    if "db_first_ratio" in coldstart:
        rows += [
            [
                "Lambda init + first authenticated read ÷ floor",
                f"{coldstart['db_first_ratio']}",
                "≤ 1.2",
            ],
            ["Lambda warm read invoke ÷ floor", f"{coldstart['warm_read_ratio']}", "≤ 1.25"],
            ["Lambda `/health` cold start ÷ hello", f"{coldstart['ratio']}", "≤ 1.3"],
        ]
    out += [markdown_table(["figure", "this run", "goal"], rows), ""]
    if "floor_db_first_request_ms" in coldstart:
        out += [
            f"Lambda absolute (recorded only): app {ms(coldstart['app_db_first_request_ms'])} "
            f"ms, floor {ms(coldstart['floor_db_first_request_ms'])} ms to the first "
            f"authenticated read; warm read p50 app {coldstart['app_warm_read_p50_us']} µs, "
            f"floor {coldstart['floor_warm_read_p50_us']} µs. With SnapStart's hooks (warm-up "
            f"before the snapshot, restore): init {ms(coldstart['snapstart_init_ms'])} ms, "
            f"then the first authenticated read {ms(coldstart['snapstart_first_read_ms'])} ms.",
            "",
        ]
    ratio, first, within = floor_drift(results)
    if first is None:
        drift = f"floor_read ÷ hello: {ratio} (no first value recorded in `bench/floors.toml`)."
    else:
        verdict = (
            "within ±10 %"
            if within
            else "**outside ±10 %: the floor or the machine changed; ratios to it are suspect**"
        )
        drift = (
            f"floor_read ÷ hello: {ratio}; first recorded {first['rps_ratio_to_hello']} "
            f"({first['recorded']}, {first['commit']}): {verdict}."
        )
    floor_cpu = floor["server_cpu_ms"] if floor else math.nan
    out += [drift + f" Floor server CPU {floor_cpu:.2f} ms per read.", ""]
    return out
