"""Numbers into words for the report: money, rates, milliseconds, inputs and Markdown tables,
and the names targets and scenarios go by."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

TARGET_NAMES = {
    "lambda": "Lambda",
    "lambda_mi": "Lambda Managed Instances",
    "fargate": "Fargate",
    "ec2": "EC2",
}
SCENARIO_LABELS = {
    "hello": "FastAPI hello (baseline)",
    "health": "`GET /health`",
    "read": "`GET /v1/files/{id}` (auth, DB, ETag)",
    "job_read": "`GET /v1/jobs/{id}` (auth, DB, ETag)",
    "floor_read": "same-stack floor of the file read",
    "presign": "`POST /v1/files` (presign)",
    "enqueue": "`POST /v1/jobs` (enqueue)",
}


def usd(value: float) -> str:
    return f"${value:,.0f}" if value >= 100 else f"${value:,.2f}"


def rps_label(key: str) -> str:
    value = float(key)
    return f"{value:,.0f}" if value.is_integer() else key


def ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = [":---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list):
        return ", ".join(f"{v:g}" for v in value)
    return str(value)
