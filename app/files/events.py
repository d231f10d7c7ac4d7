"""S3 ``ObjectCreated`` events for upload keys, turned into ``ingest`` jobs (once per event)."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from app.config import Settings
from app.db import Database
from app.files import storage
from app.files.models import StoredFile
from app.jobs.models import Job, JobStatus
from app.jobs.queue import ObjectCreated

logger = logging.getLogger("app.files")


async def ingest_job_for(
    db: Database, settings: Settings, event: ObjectCreated
) -> uuid.UUID | None:
    """The ingest job for an upload event (created the first time), or None if not ours."""
    parsed = storage.parse_incoming_key(event.key)
    if event.bucket != settings.s3_bucket or parsed is None:
        logger.warning(
            "ignoring an S3 event for a key that is not an upload",
            extra={"bucket": event.bucket, "key": event.key[:200]},
        )
        return None
    user_id, file_id = parsed
    # S3 may deliver an event twice: the same object's events share this key. A second POST
    # under the same policy is a new object and gets a job of its own.
    idempotency_key = f"ingest:{file_id}:{event.event_time.isoformat()}:{event.version}"[:200]
    job_input = {
        "user_id": str(user_id),
        "file_id": str(file_id),
        "event_time": event.event_time.isoformat(),
    }
    async with db.side_transaction() as session:
        # The job belongs to the file's owner; an upload whose record is gone has no owner.
        owner = await session.scalar(
            select(StoredFile.user_id).where(
                StoredFile.id == file_id, StoredFile.user_id == user_id
            )
        )
        job_id = await session.scalar(
            insert(Job)
            .values(
                id=uuid.uuid4(),
                user_id=owner,
                kind="ingest",
                input=job_input,
                status=JobStatus.QUEUED,
                attempts=0,
                idempotency_key=idempotency_key,
                # The event message is this job's delivery: the sweep need not send it.
                sent_at=func.now(),
            )
            .on_conflict_do_nothing(index_elements=[Job.user_id, Job.idempotency_key])
            .returning(Job.id)
        )
        if job_id is None:
            job_id = await session.scalar(
                select(Job.id).where(Job.user_id == owner, Job.idempotency_key == idempotency_key)
            )
    return job_id
