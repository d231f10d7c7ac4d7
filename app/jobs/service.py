"""Creating, reading and retrying jobs (the API side)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.ownership import owned_statement, read_owned
from app.aws import AwsClients
from app.config import Settings
from app.errors import AppError
from app.jobs.models import Job, JobStatus
from app.jobs.queue import Queue, job_message
from app.jobs.registry import registry
from app.pagination import newest_first

logger = logging.getLogger("app.jobs")


def validate_submission(
    *, settings: Settings, kind_name: str, raw_input: dict[str, Any]
) -> dict[str, Any]:
    """The normalized input, or a 422 problem naming what is wrong."""
    kind = registry.get(kind_name, settings)
    if kind is None or not kind.user_submittable:
        raise AppError(
            422,
            "unknown-job-kind",
            f"unknown job kind {kind_name!r}; "
            f"submittable kinds: {', '.join(registry.submittable(settings)) or 'none'}",
        )
    try:
        data = kind.input_model.model_validate(raw_input)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
            for err in exc.errors()
        )
        raise AppError(
            422, "invalid-job-input", f"invalid input for {kind_name!r}: {fields}"
        ) from exc
    normalized: dict[str, Any] = data.model_dump(mode="json")
    return normalized


async def create_job(
    *,
    session: AsyncSession,
    user_id: uuid.UUID | None,
    kind: str,
    job_input: dict[str, Any],
    idempotency_key: str | None,
    delivered: bool = False,
) -> tuple[Job, bool]:
    """Insert a queued job; with an idempotency key already used, return that job instead.
    ``delivered``: the message that brought the job is its delivery, so the sweep must not
    send it (it runs from that message)."""
    job = await session.scalar(
        insert(Job)
        .values(
            id=uuid.uuid4(),
            user_id=user_id,
            kind=kind,
            input=job_input,
            status=JobStatus.QUEUED,
            attempts=0,
            idempotency_key=idempotency_key,
            sent_at=func.now() if delivered else None,
        )
        .on_conflict_do_nothing(index_elements=[Job.user_id, Job.idempotency_key])
        .returning(Job)
    )
    if isinstance(job, Job):
        return job, True
    existing = await session.scalar(
        select(Job).where(Job.user_id == user_id, Job.idempotency_key == idempotency_key)
    )
    assert existing is not None
    if existing.kind != kind or existing.input != job_input:
        raise AppError(
            409,
            "idempotency-key-reused",
            "this idempotency key was used for a different job",
        )
    return existing, False


async def send(*, session: AsyncSession, aws: AwsClients, settings: Settings, job: Job) -> None:
    """Hand a committed job to SQS. If that fails the job stays queued with ``sent_at`` NULL
    and the sweep sends it later: accepted work is never lost, only delayed."""
    try:
        await Queue(aws, settings.jobs.require_queue_url()).send(job_message(job.id))
    except Exception:
        logger.warning(
            "SendMessage failed; the sweep will retry", exc_info=True, extra={"job_id": str(job.id)}
        )
        return
    await session.execute(update(Job).where(Job.id == job.id).values(sent_at=func.now()))


_OWNED_JOB = owned_statement(Job)


async def get_job(*, session: AsyncSession, user_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    """The caller's job; 401 if the caller's account is gone (checked in the same statement)."""
    job = await read_owned(session, _OWNED_JOB, user_id=user_id, row_id=job_id)
    if job is None:
        raise AppError(404, "not-found", "job not found")
    return job


async def list_jobs(
    *, session: AsyncSession, user_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[Job], str | None]:
    return await newest_first(
        session, select(Job).where(Job.user_id == user_id), limit=limit, cursor=cursor
    )


async def requeue_for_retry(*, session: AsyncSession, user_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    job = await session.scalar(
        update(Job)
        .where(
            Job.id == job_id,
            Job.user_id == user_id,
            Job.status.in_([JobStatus.FAILED, JobStatus.DEAD]),
        )
        .values(
            status=JobStatus.QUEUED,
            finished_at=None,
            sent_at=None,
            lease_token=None,
            lease_until=None,
            updated_at=func.now(),
        )
        .returning(Job)
    )
    if isinstance(job, Job):
        return job
    current = await get_job(session=session, user_id=user_id, job_id=job_id)
    raise AppError(
        409,
        "job-not-retryable",
        f"only failed or dead jobs can be retried; this one is {current.status}",
    )
