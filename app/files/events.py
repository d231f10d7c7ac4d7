"""S3 ``ObjectCreated`` events for upload keys, turned into ``ingest`` jobs (once per event).

S3 sends its notifications to the jobs queue; this module is the jobs core's message source
for them. ``s3:TestEvent``, sent whenever notifications are configured, implies no job.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.files import storage
from app.files.models import StoredFile
from app.jobs.queue import PoisonMessage
from app.jobs.registry import message_source
from app.jobs.runtime import JobRuntime
from app.jobs.service import create_job

logger = logging.getLogger("app.files")


@dataclass(frozen=True)
class ObjectCreated:
    """One S3 ``ObjectCreated:*`` record."""

    bucket: str
    key: str  # decoded: S3 URL-encodes keys in events
    size: int
    event_time: datetime
    # Tells two objects written under one key apart (the sequencer; moto sends only an ETag).
    version: str


def is_s3_event(payload: Mapping[str, Any]) -> bool:
    return payload.get("Event") == "s3:TestEvent" or isinstance(payload.get("Records"), list)


def object_created_records(payload: Mapping[str, Any]) -> list[ObjectCreated]:
    """The ``ObjectCreated`` records of an S3 event (none for a test event or other events)."""
    try:
        found = (_object_created(record) for record in payload.get("Records", ()))
        return [record for record in found if record is not None]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PoisonMessage(f"unreadable S3 event: {str(payload)[:200]!r}") from exc


def _object_created(record: dict[str, Any]) -> ObjectCreated | None:
    if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
        "ObjectCreated:"
    ):
        return None
    s3 = record["s3"]
    obj = s3["object"]
    return ObjectCreated(
        bucket=str(s3["bucket"]["name"]),
        key=unquote_plus(str(obj["key"])),
        size=int(obj.get("size", 0)),
        event_time=datetime.fromisoformat(str(record["eventTime"]).replace("Z", "+00:00")),
        version=str(obj.get("sequencer") or obj.get("eTag") or ""),
    )


@message_source("s3-object-created", accepts=is_s3_event)
async def ingest_jobs(runtime: JobRuntime, payload: Mapping[str, Any]) -> list[uuid.UUID]:
    jobs = []
    for record in object_created_records(payload):
        job_id = await ingest_job_for(runtime.db, runtime.settings, record)
        if job_id is not None:
            jobs.append(job_id)
    return jobs


async def ingest_job_for(
    db: Database, settings: Settings, event: ObjectCreated
) -> uuid.UUID | None:
    """The ingest job for an upload event (created the first time), or None if not ours."""
    parsed = storage.parse_incoming_key(event.key)
    if event.bucket != settings.files.bucket or parsed is None:
        logger.warning(
            "ignoring an S3 event for a key that is not an upload",
            extra={"bucket": event.bucket, "key": event.key[:200]},
        )
        return None
    user_id, file_id = parsed
    async with db.side_transaction() as session:
        # The job belongs to the file's owner; an upload whose record is gone has no owner.
        owner = await session.scalar(
            select(StoredFile.user_id).where(
                StoredFile.id == file_id, StoredFile.user_id == user_id
            )
        )
        job, _ = await create_job(
            session=session,
            user_id=owner,
            kind="ingest",
            job_input={
                "user_id": str(user_id),
                "file_id": str(file_id),
                "event_time": event.event_time.isoformat(),
            },
            # S3 may deliver an event twice: the same object's events share this key. A second
            # POST under the same policy is a new object and gets a job of its own.
            idempotency_key=f"ingest:{file_id}:{event.event_time.isoformat()}:{event.version}"[
                :200
            ],
            # The event message is this job's delivery: the sweep need not send it.
            delivered=True,
        )
    return job.id
