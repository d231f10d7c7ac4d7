from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.examples import with_example
from app.jobs.models import Job, JobStatus


class JobCreate(BaseModel):
    model_config = with_example(
        {"kind": "sleep", "input": {"seconds": 1}, "idempotency_key": "nightly-2026-11-27"},
        extra="forbid",
    )

    kind: str = Field(min_length=1, max_length=64)
    input: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Retrying with the same key returns the job created the first time.",
    )


class JobOut(BaseModel):
    model_config = with_example(
        {
            "job_id": "4f1c8a52-0b7e-4b0e-9c55-2f6d3e1a7b90",
            "kind": "sleep",
            "status": "succeeded",
            "attempts": 1,
            "input": {"seconds": 1},
            "result": {"slept": 1, "attempt": 1},
            "error": None,
            "created_at": "2026-11-27T10:00:00Z",
            "started_at": "2026-11-27T10:00:00.2Z",
            "finished_at": "2026-11-27T10:00:01.2Z",
        }
    )

    job_id: uuid.UUID
    kind: str
    status: JobStatus
    attempts: int
    input: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            job_id=job.id,
            kind=job.kind,
            status=job.status,
            attempts=job.attempts,
            input=job.input,
            result=job.result,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )
