"""Diagnostic kinds for local runs and tests (DIAGNOSTIC_JOBS); never present in production."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.jobs.registry import JobContext, PermanentJobError, job_kind


class SleepInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(default=0, ge=0, le=600)


@job_kind("sleep", input_model=SleepInput, diagnostic=True)
async def sleep(ctx: JobContext, data: SleepInput) -> dict[str, Any]:
    await asyncio.sleep(data.seconds)
    return {"slept": data.seconds, "attempt": ctx.attempt}


class FlakyInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail_times: int = Field(ge=0, le=100)


@job_kind("flaky", input_model=FlakyInput, diagnostic=True)
async def flaky(ctx: JobContext, data: FlakyInput) -> dict[str, Any]:
    if ctx.attempt <= data.fail_times:
        raise RuntimeError(f"planned failure {ctx.attempt} of {data.fail_times}")
    return {"succeeded_on_attempt": ctx.attempt}


class FailInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(default="always fails", max_length=200)
    permanent: bool = False


@job_kind("fail", input_model=FailInput, diagnostic=True)
async def fail(ctx: JobContext, data: FailInput) -> None:
    if data.permanent:
        raise PermanentJobError(data.message)
    raise RuntimeError(data.message)
