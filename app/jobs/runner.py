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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text

from app.aws import AwsClients, Duty, performs
from app.config import Settings
from app.db import Database
from app.files.events import ingest_job_for
from app.jobs import kinds  # noqa: F401  (registers every kind)
from app.jobs.models import JobStatus
from app.jobs.queue import PoisonMessage, S3Notification, decode_message, job_message
from app.jobs.registry import JobContext, PermanentJobError, registry

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


@dataclass
class JobRuntime:
    """What a worker process (or Lambda execution environment) holds."""

    settings: Settings
    db: Database
    aws: AwsClients

    @classmethod
    def from_settings(cls, settings: Settings) -> JobRuntime:
        return cls(settings=settings, db=Database.from_settings(settings), aws=AwsClients(settings))

    async def close(self) -> None:
        await self.db.dispose()


ExtendVisibility = Callable[[int], Awaitable[None]]

_CLAIM = text(
    """
    UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_token = :token,
        lease_until = now() + make_interval(secs => :lease), updated_at = now(),
        started_at = coalesce(started_at, now())
    WHERE id = :id AND (status = 'queued' OR (status = 'running' AND lease_until < now()))
    RETURNING kind, input, user_id, attempts
    """
)
_EXTEND = text(
    """
    UPDATE jobs SET lease_until = now() + make_interval(secs => :lease), updated_at = now()
    WHERE id = :id AND lease_token = :token AND status = 'running'
    """
)
_FINISH = text(
    """
    UPDATE jobs SET status = CAST(:status AS varchar), result = CAST(:result AS jsonb),
        error = :error, lease_token = NULL, lease_until = NULL, updated_at = now(),
        finished_at = CASE WHEN CAST(:status AS varchar) = 'queued' THEN NULL ELSE now() END
    WHERE id = :id AND lease_token = :token AND status = 'running'
    """
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
    import json

    async with db.autocommit() as connection:
        outcome = await connection.execute(
            _FINISH,
            {
                "id": job_id,
                "token": token,
                "status": status.value,
                "result": None if result is None else json.dumps(result),
                "error": error,
            },
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
    lease = settings.jobs_lease_s
    interval = min(lease, settings.jobs_visibility_timeout_s) / 3
    while True:
        await asyncio.sleep(interval)
        interval = lease / 3
        try:
            if extend_visibility is not None:
                await extend_visibility(lease)
            async with runtime.db.autocommit() as connection:
                await connection.execute(_EXTEND, {"id": job_id, "token": token, "lease": lease})
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
    """Run the job a message names (or the jobs an S3 event implies); the decision says what
    to do with the message."""
    try:
        message = decode_message(body)
    except PoisonMessage:
        logger.error("poison message", extra={"body_prefix": body[:120]})
        return Decision(Outcome.POISON)
    if isinstance(message, S3Notification):
        return await _process_s3_notification(
            runtime, message, receive_count=receive_count, extend_visibility=extend_visibility
        )
    return await _process_job(
        runtime, job_id=message, receive_count=receive_count, extend_visibility=extend_visibility
    )


async def _process_s3_notification(
    runtime: JobRuntime,
    notification: S3Notification,
    *,
    receive_count: int,
    extend_visibility: ExtendVisibility | None,
) -> Decision:
    """S3 sends upload events to this queue: each becomes an ``ingest`` job (found again, not
    duplicated, when S3 or SQS delivers twice), run here since this message is its delivery.
    ``s3:TestEvent``, sent whenever notifications are configured, is acknowledged."""
    decisions: list[Decision] = []
    for record in notification.records:
        job_id = await ingest_job_for(runtime.db, runtime.settings, record)
        if job_id is not None:
            decisions.append(
                await _process_job(
                    runtime,
                    job_id=job_id,
                    receive_count=receive_count,
                    extend_visibility=extend_visibility,
                )
            )
    # The message comes back if any of its jobs must run again; finished ones are skipped then.
    for outcome in (Outcome.RETRY, Outcome.BUSY, Outcome.POISON):
        matching = [d for d in decisions if d.outcome is outcome]
        if matching:
            return max(matching, key=lambda d: d.hide_for_s)
    return Decision(Outcome.DONE)


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
            await connection.execute(
                _CLAIM, {"id": job_id, "token": token, "lease": settings.jobs_lease_s}
            )
        ).one_or_none()
        if claimed is None:
            current = (
                await connection.execute(
                    text(
                        "SELECT status, EXTRACT(EPOCH FROM lease_until - now())::float8"
                        " FROM jobs WHERE id = :id"
                    ),
                    {"id": job_id},
                )
            ).one_or_none()
    if claimed is None:
        if current is None:
            logger.error("message for a job that does not exist", extra={"job_id": str(job_id)})
            return Decision(Outcome.POISON)
        status, lease_left_s = current
        if status == JobStatus.RUNNING and lease_left_s is not None and lease_left_s > 0:
            return Decision(Outcome.BUSY, hide_for_s=math.ceil(lease_left_s) + 1)
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
        last = receive_count >= settings.jobs_max_receive_count
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


_SWEEP = text(
    """
    UPDATE jobs SET sent_at = now(), updated_at = now()
    WHERE id IN (
        SELECT id FROM jobs
        WHERE (status = 'queued' AND updated_at < now() - make_interval(secs => :after))
           OR (status = 'running' AND lease_until < now() - make_interval(secs => :after))
        ORDER BY updated_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id
    """
)


@performs(Duty.HOUSEKEEPING)
async def sweep(runtime: JobRuntime, *, batch: int = 100) -> int:
    """Send again every job that SQS may not hold: never sent (a crash between commit and
    SendMessage), or abandoned (lease lapsed long ago). Duplicates are harmless by design."""
    from app.jobs.queue import Queue

    queue = Queue(runtime.aws, runtime.settings.require_queue_url())
    # The client is built before the transaction: a first one (botocore's models, hundreds of
    # ms) must not hold the rows' locks, nor age the stamp the next sweep judges them by.
    _ = runtime.aws.sqs
    async with runtime.db.side_transaction() as session:
        job_ids = list(
            (
                await session.execute(
                    _SWEEP, {"after": runtime.settings.jobs_sweep_after_s, "batch": batch}
                )
            ).scalars()
        )
        # Inside the transaction: if a send fails, sent_at rolls back and the next sweep retries.
        for job_id in job_ids:
            await queue.send(job_message(job_id))
    if job_ids:
        logger.warning("re-sent jobs SQS may not hold", extra={"count": len(job_ids)})
    return len(job_ids)
