"""Cleanup of what uploads leave behind: ``python -m app.files cleanup``, and every
FILES_CLEANUP_INTERVAL_S in the workers (a periodic task, ``app.files.jobs``).

* uploads never completed within FILES_PENDING_MAX_AGE_S: objects removed, file ``rejected``;
* deletions a crash interrupted: objects and row removed;
* objects under ``incoming/`` and ``exports/`` older than that age (what a crash between two
  steps of a verification leaves; on AWS a bucket lifecycle rule expires them too).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from app.aws import AwsClients, Duty, performs
from app.config import Settings
from app.db import Database
from app.files import storage
from app.files.models import FileStatus, StoredFile
from app.files.service import purge

logger = logging.getLogger("app.files")

BATCH = 100
# A deletion is finished by its own request; only one stuck this long is cleanup's business.
DELETE_SETTLE_S = 60


def _ago(seconds: float) -> Any:
    return func.now() - timedelta(seconds=seconds)


def _expired(age_s: float) -> Any:
    """Pending uploads older than ``age_s``, locked for this pass."""
    return (
        select(StoredFile.id, StoredFile.user_id)
        .where(
            StoredFile.status == FileStatus.PENDING,
            StoredFile.deleted_at.is_(None),
            StoredFile.created_at < _ago(age_s),
        )
        .order_by(StoredFile.created_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )


def _reject(file_ids: list[uuid.UUID], reason: str) -> Any:
    return (
        update(StoredFile)
        .where(StoredFile.id.in_(file_ids))
        .values(status=FileStatus.REJECTED, rejected_reason=reason)
        .execution_options(synchronize_session=False)
    )


def _deleted() -> Any:
    """Deletions left unfinished for longer than their own request would take."""
    return (
        select(StoredFile.user_id, StoredFile.id)
        .where(StoredFile.deleted_at < _ago(DELETE_SETTLE_S))
        .order_by(StoredFile.deleted_at)
        .limit(BATCH)
    )


@dataclass(frozen=True)
class CleanupReport:
    expired: int
    purged: int
    stray_objects: int


async def _expire(db: Database, aws: AwsClients, settings: Settings) -> int:
    reason = "the upload was not completed in time"
    total = 0
    while True:
        async with db.side_transaction() as session:
            rows = (await session.execute(_expired(settings.files.pending_max_age_s))).all()
            # Objects go first, under the row locks: no verifier can decide these meanwhile.
            keys = [storage.incoming_key(u, f) for f, u in rows]
            keys += [storage.ready_key(u, f) for f, u in rows]
            await storage.delete_keys(aws, keys)
            if rows:
                await session.execute(_reject([f for f, _ in rows], reason))
        total += len(rows)
        if len(rows) < BATCH:
            return total


async def _purge_deleted(db: Database, aws: AwsClients) -> int:
    total = 0
    while True:
        async with db.side_transaction() as session:
            rows = (await session.execute(_deleted())).all()
        await purge(db=db, aws=aws, records=[(u, f) for u, f in rows])
        total += len(rows)
        if len(rows) < BATCH:
            return total


async def _stray_objects(aws: AwsClients, settings: Settings, now: datetime) -> int:
    cutoff = now - timedelta(seconds=settings.files.pending_max_age_s)
    total = 0
    for prefix in (storage.INCOMING, storage.EXPORTS):
        async for page in storage.listed(aws, prefix):
            old = [item["Key"] for item in page if item["LastModified"] < cutoff]
            await storage.delete_keys(aws, old)
            total += len(old)
    return total


@performs(Duty.HOUSEKEEPING)
async def cleanup(
    *, db: Database, aws: AwsClients, settings: Settings, now: datetime | None = None
) -> CleanupReport:
    """One pass over all three; ``now`` (tests) only moves the age cut-off for objects."""
    report = CleanupReport(
        expired=await _expire(db, aws, settings),
        purged=await _purge_deleted(db, aws),
        stray_objects=await _stray_objects(aws, settings, now or datetime.now(UTC)),
    )
    if report.expired or report.purged or report.stray_objects:
        logger.info(
            "files cleaned up",
            extra={
                "expired": report.expired,
                "purged": report.purged,
                "stray_objects": report.stray_objects,
            },
        )
    return report
