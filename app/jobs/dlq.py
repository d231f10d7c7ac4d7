"""The dead-letter queue: park poison, notice what SQS moved there, and redrive it."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, update

from app.aws import Duty, performs
from app.jobs.models import Job, JobStatus
from app.jobs.queue import Message, PoisonMessage, Queue, decode_job_id, job_message
from app.jobs.runtime import JobRuntime

logger = logging.getLogger("app.jobs.dlq")

DEAD_LETTERED = "message moved to the dead-letter queue"


def queues(runtime: JobRuntime) -> tuple[Queue, Queue]:
    settings = runtime.settings
    return (
        Queue(runtime.aws, settings.jobs.require_queue_url()),
        Queue(runtime.aws, settings.jobs.require_dlq_url()),
    )


async def park_poison(runtime: JobRuntime, message_body: str) -> None:
    """Send an unusable message to the DLQ ourselves, so it never blocks the queue."""
    _, dlq = queues(runtime)
    await dlq.send(message_body)


async def _scan(dlq: Queue, *, visibility_s: int) -> list[Message]:
    """Every message currently in the DLQ, each seen once (they stay invisible meanwhile)."""
    seen: dict[str, Message] = {}
    while True:
        batch = await dlq.receive(max_messages=10, wait_s=0, visibility_s=visibility_s)
        fresh = [m for m in batch if m.message_id not in seen]
        if not fresh:
            return list(seen.values())
        seen.update((m.message_id, m) for m in fresh)


def _mark_dead(job_ids: list[uuid.UUID]) -> Any:
    """Dead: jobs not finished and not held by a live lease (SQS gave up on their message)."""
    return (
        update(Job)
        .where(
            Job.id.in_(job_ids),
            or_(
                Job.status == JobStatus.QUEUED,
                and_(Job.status == JobStatus.RUNNING, Job.lease_until < func.now()),
            ),
        )
        .values(
            status=JobStatus.DEAD,
            error=func.coalesce(Job.error, DEAD_LETTERED),
            finished_at=func.now(),
            lease_token=None,
            lease_until=None,
            updated_at=func.now(),
        )
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class DlqReport:
    messages: int
    jobs: int
    unreadable: int


@performs(Duty.HOUSEKEEPING)
async def check(runtime: JobRuntime, *, visibility_s: int = 30) -> DlqReport:
    """Mark dead every job whose message sits in the DLQ (messages stay where they are)."""
    _, dlq = queues(runtime)
    messages = await _scan(dlq, visibility_s=visibility_s)
    ids, unreadable = _job_ids(messages)
    marked: list[uuid.UUID] = []
    if ids:
        async with runtime.db.side_transaction() as session:
            rows = await session.execute(_mark_dead(list(ids.values())))
            marked = list(rows.scalars())
    # Leave the messages visible again for the next check or a redrive.
    for message in messages:
        await dlq.set_visibility(message.receipt_handle, 0)
    if marked:
        logger.warning("jobs found in the dead-letter queue", extra={"count": len(marked)})
    return DlqReport(messages=len(messages), jobs=len(marked), unreadable=unreadable)


def _job_ids(messages: list[Message]) -> tuple[dict[str, uuid.UUID], int]:
    ids: dict[str, uuid.UUID] = {}
    unreadable = 0
    for message in messages:
        try:
            ids[message.message_id] = decode_job_id(message.body)
        except PoisonMessage:
            unreadable += 1
    return ids, unreadable


def _requeue(job_id: uuid.UUID) -> Any:
    """Back to queued, already sent (the redrive sends it next), unless it succeeded."""
    return (
        update(Job)
        .where(Job.id == job_id, Job.status != JobStatus.SUCCEEDED)
        .values(
            status=JobStatus.QUEUED,
            finished_at=None,
            lease_token=None,
            lease_until=None,
            sent_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )


@performs(Duty.OPERATE)
async def redrive(runtime: JobRuntime, *, visibility_s: int = 60) -> DlqReport:
    """Move job messages back to the main queue, resetting their jobs to ``queued``.

    Unreadable messages stay in the DLQ for a human. Each job is reset and sent before its
    DLQ copy is deleted, so a crash mid-redrive duplicates at worst (which is harmless).
    """
    queue, dlq = queues(runtime)
    messages = await _scan(dlq, visibility_s=visibility_s)
    ids, unreadable = _job_ids(messages)
    moved = 0
    for message in messages:
        job_id = ids.get(message.message_id)
        if job_id is None:
            await dlq.set_visibility(message.receipt_handle, 0)
            continue
        async with runtime.db.side_transaction() as session:
            requeued = (await session.execute(_requeue(job_id))).scalar_one_or_none()
            if requeued is not None:
                await queue.send(job_message(job_id))
        await dlq.delete(message.receipt_handle)
        moved += requeued is not None
    logger.info("redrive finished", extra={"moved": moved, "unreadable": unreadable})
    return DlqReport(messages=len(messages), jobs=moved, unreadable=unreadable)
