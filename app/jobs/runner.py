"""The job core every runtime shares: claim with a lease, run, record, decide the message's fate.

Delivery is at-least-once, so correctness rests on the database, not on SQS:

* a worker owns a job only while it holds the lease (``lease_token`` + ``lease_until``); a
  redelivered message takes over a job only if it is ``queued`` or its lease lapsed;
* every state change is its own committed transaction, written before the message is
  deleted, and the final write only lands while the lease is still ours;
* so a duplicate message, a second worker or a crash mid-job all end in one recorded effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, func, null, or_, select, update

from app.aws import Duty, performs
from app.db import Database
from app.jobs import dlq
from app.jobs.models import Job, JobStatus
from app.jobs.queue import PoisonMessage, Queue, decode_message, job_message
from app.jobs.registry import JobContext, PermanentJobError, registry
from app.jobs.runtime import JobRuntime

logger = logging.getLogger("app.jobs")

MAX_ERROR_CHARS = 2000


class Outcome(StrEnum):
    DONE = "done"  # recorded for good: delete the message
    RETRY = "retry"  # leave the message; SQS redelivers it (or moves it to the DLQ)
    BUSY = "busy"  # another worker holds a live lease: hide the message until it lapses
    POISON = "poison"  # unusable: park it in the DLQ, delete it from the queue


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    # BUSY only: hide the message this long, so waiting for a lease does not burn the
    # receive attempts that decide when SQS gives up on it.
    hide_for_s: int = 0


ExtendVisibility = Callable[[int], Awaitable[None]]


def _lease_until(lease_s: float) -> Any:
    return func.now() + timedelta(seconds=lease_s)


def _claim(job_id: uuid.UUID, token: uuid.UUID, lease_s: float) -> Any:
    """Take the job if it is queued or its lease lapsed; returns what running it needs."""
    return (
        update(Job)
        .where(
            Job.id == job_id,
            or_(
                Job.status == JobStatus.QUEUED,
                and_(Job.status == JobStatus.RUNNING, Job.lease_until < func.now()),
            ),
        )
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            lease_token=token,
            lease_until=_lease_until(lease_s),
            updated_at=func.now(),
            started_at=func.coalesce(Job.started_at, func.now()),
        )
        .returning(Job.kind, Job.input, Job.user_id, Job.attempts)
    )


def _while_leased(job_id: uuid.UUID, token: uuid.UUID) -> Any:
    """An update that lands only while the lease is still ours."""
    return update(Job).where(
        Job.id == job_id, Job.lease_token == token, Job.status == JobStatus.RUNNING
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


async def _finish(
    db: Database,
    *,
    job_id: uuid.UUID,
    token: uuid.UUID,
    status: JobStatus,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    async with db.autocommit() as connection:
        outcome = await connection.execute(
            _while_leased(job_id, token).values(
                status=status,
                result=null() if result is None else result,
                error=error,
                lease_token=None,
                lease_until=None,
                updated_at=func.now(),
                finished_at=None if status is JobStatus.QUEUED else func.now(),
            )
        )
    updated: int = outcome.rowcount
    if not updated:
        logger.warning(
            "lease lost before finishing; another worker owns the job",
            extra={"job_id": str(job_id)},
        )
    return bool(updated)


async def _keep_lease(
    runtime: JobRuntime,
    *,
    job_id: uuid.UUID,
    token: uuid.UUID,
    extend_visibility: ExtendVisibility | None,
) -> None:
    """Keep the lease and the message's visibility ahead of the work, until cancelled.

    Short jobs finish before the first beat and cost no extra call. The first beat comes
    well inside the queue's visibility timeout: a message that reappears mid-job burns a
    receive attempt, and enough of those send a healthy job to the DLQ.
    """
    settings = runtime.settings
    lease = settings.jobs.lease_s
    interval = min(lease, settings.jobs.visibility_timeout_s) / 3
    while True:
        await asyncio.sleep(interval)
        interval = lease / 3
        try:
            if extend_visibility is not None:
                await extend_visibility(lease)
            async with runtime.db.autocommit() as connection:
                await connection.execute(
                    _while_leased(job_id, token).values(
                        lease_until=_lease_until(lease), updated_at=func.now()
                    )
                )
        except Exception:
            logger.warning("could not extend lease", exc_info=True, extra={"job_id": str(job_id)})


@performs(Duty.RUN_JOBS)
async def process_message(
    runtime: JobRuntime,
    *,
    body: str,
    receive_count: int,
    extend_visibility: ExtendVisibility | None = None,
) -> Decision:
    """Run the job a message names (or the jobs another producer's message implies); the
    decision says what to do with the message."""
    if not registry.composed:
        # Raised, not decided: the message comes back once the entry point is fixed.
        raise RuntimeError("no job kinds registered: call app.domains.compose() first")
    try:
        message = decode_message(body)
        if isinstance(message, uuid.UUID):
            job_ids = [message]
        else:
            job_ids = await _jobs_from_source(runtime, message)
    except PoisonMessage:
        logger.error("poison message", extra={"body_prefix": body[:120]})
        return Decision(Outcome.POISON)
    decisions = [
        await _process_job(
            runtime, job_id=job_id, receive_count=receive_count, extend_visibility=extend_visibility
        )
        for job_id in job_ids
    ]
    # The message comes back if any of its jobs must run again; finished ones are skipped then.
    for outcome in (Outcome.RETRY, Outcome.BUSY, Outcome.POISON):
        matching = [d for d in decisions if d.outcome is outcome]
        if matching:
            return max(matching, key=lambda d: d.hide_for_s)
    return Decision(Outcome.DONE)


async def settle(
    runtime: JobRuntime,
    queue: Queue,
    decision: Decision,
    *,
    body: str,
    receipt_handle: str,
    delete: bool,
) -> bool:
    """Apply a decision to its message, the same for every worker: poison is parked in the
    DLQ, a busy job's message hidden until its lease lapses, the rest deleted when ``delete``
    (a Lambda event source deletes itself what its batch response does not name). True when
    the message must come back."""
    if decision.outcome is Outcome.POISON:
        await dlq.park_poison(runtime, body)
    elif decision.outcome is Outcome.BUSY:
        await queue.set_visibility(receipt_handle, decision.hide_for_s)
    comes_back = decision.outcome in (Outcome.RETRY, Outcome.BUSY)
    if delete and not comes_back:
        await queue.delete(receipt_handle)
    return comes_back


async def _jobs_from_source(runtime: JobRuntime, payload: Mapping[str, Any]) -> list[uuid.UUID]:
    """A message from another producer (S3 sends upload events to this queue): its jobs are
    created (found again, not duplicated, on a repeated delivery) and run here, since this
    message is their delivery."""
    source = registry.source_for(payload)
    if source is None:
        raise PoisonMessage("no message source reads this message")
    return await source.jobs_for(runtime, payload)


async def _process_job(
    runtime: JobRuntime,
    *,
    job_id: uuid.UUID,
    receive_count: int,
    extend_visibility: ExtendVisibility | None,
) -> Decision:
    settings, db = runtime.settings, runtime.db
    token = uuid.uuid4()
    async with db.autocommit() as connection:
        claimed = (
            await connection.execute(_claim(job_id, token, settings.jobs.lease_s))
        ).one_or_none()
        if claimed is None:
            current = (
                await connection.execute(
                    select(Job.status, func.extract("epoch", Job.lease_until - func.now())).where(
                        Job.id == job_id
                    )
                )
            ).one_or_none()
    if claimed is None:
        if current is None:
            logger.error("message for a job that does not exist", extra={"job_id": str(job_id)})
            return Decision(Outcome.POISON)
        status, lease_left_s = current
        if status == JobStatus.RUNNING and lease_left_s is not None and lease_left_s > 0:
            return Decision(Outcome.BUSY, hide_for_s=math.ceil(float(lease_left_s)) + 1)
        return Decision(Outcome.DONE)  # already finished: a duplicate delivery

    kind_name, raw_input, user_id, attempt = claimed
    log_extra = {"job_id": str(job_id), "kind": kind_name, "attempt": attempt}
    kind = registry.get(kind_name, settings)
    if kind is None:
        await _finish(
            db,
            job_id=job_id,
            token=token,
            status=JobStatus.DEAD,
            error=f"unknown job kind {kind_name!r} in this deployment",
        )
        return Decision(Outcome.POISON)

    ctx = JobContext(
        job_id=job_id, user_id=user_id, attempt=attempt, db=db, settings=settings, aws=runtime.aws
    )
    keeper = asyncio.create_task(
        _keep_lease(runtime, job_id=job_id, token=token, extend_visibility=extend_visibility)
    )
    try:
        result = await kind.run(ctx, raw_input)
    except asyncio.CancelledError:
        # Shutting down: hand the job back so the next delivery need not wait out the lease.
        with contextlib.suppress(Exception):
            await asyncio.shield(
                _finish(
                    db, job_id=job_id, token=token, status=JobStatus.QUEUED, error="worker stopped"
                )
            )
        raise
    except (PermanentJobError, ValidationError) as exc:
        logger.warning("job failed permanently", extra={**log_extra, "error": _describe(exc)})
        await _finish(db, job_id=job_id, token=token, status=JobStatus.FAILED, error=_describe(exc))
        return Decision(Outcome.DONE)
    except Exception as exc:
        last = receive_count >= settings.jobs.max_receive_count
        # SQS moves the message to the DLQ silently; record "dead" ourselves on the last try.
        status = JobStatus.DEAD if last else JobStatus.QUEUED
        logger.warning("job attempt failed", exc_info=True, extra={**log_extra, "final": last})
        await _finish(db, job_id=job_id, token=token, status=status, error=_describe(exc))
        return Decision(Outcome.RETRY)
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper

    await _finish(db, job_id=job_id, token=token, status=JobStatus.SUCCEEDED, result=result)
    logger.info("job succeeded", extra=log_extra)
    return Decision(Outcome.DONE)


def _sweep(after_s: float, batch: int) -> Any:
    """Stamp and return the jobs SQS may not hold: queued but not touched for ``after_s``, or
    running with a lease lapsed that long ago."""
    stale = func.now() - timedelta(seconds=after_s)
    due = (
        select(Job.id)
        .where(
            or_(
                and_(Job.status == JobStatus.QUEUED, Job.updated_at < stale),
                and_(Job.status == JobStatus.RUNNING, Job.lease_until < stale),
            )
        )
        .order_by(Job.updated_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return (
        update(Job)
        .where(Job.id.in_(due.scalar_subquery()))
        .values(sent_at=func.now(), updated_at=func.now())
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )


@performs(Duty.HOUSEKEEPING)
async def sweep(runtime: JobRuntime, *, batch: int = 100) -> int:
    """Send again every job that SQS may not hold: never sent (a crash between commit and
    SendMessage), or abandoned (lease lapsed long ago). Duplicates are harmless by design."""
    queue = Queue(runtime.aws, runtime.settings.jobs.require_queue_url())
    # The client is built before the transaction: a first one (botocore's models, hundreds of
    # ms) must not hold the rows' locks, nor age the stamp the next sweep judges them by.
    _ = runtime.aws.sqs
    async with runtime.db.side_transaction() as session:
        job_ids = list(
            (await session.execute(_sweep(runtime.settings.jobs.sweep_after_s, batch))).scalars()
        )
        # Inside the transaction: if a send fails, sent_at rolls back and the next sweep retries.
        for job_id in job_ids:
            await queue.send(job_message(job_id))
    if job_ids:
        logger.warning("re-sent jobs SQS may not hold", extra={"count": len(job_ids)})
    return len(job_ids)
