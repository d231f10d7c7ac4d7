"""Cleanup of what uploads leave behind: ``python -m app.files cleanup``, and hourly in the worker.

* uploads never completed within FILES_PENDING_MAX_AGE_S: objects removed, file ``rejected``;
* deletions a crash interrupted: objects and row removed;
* objects under ``incoming/`` and ``exports/`` older than that age (what a crash between two
  steps of a verification leaves; on AWS a bucket lifecycle rule expires them too).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

from app.aws import AwsClients, Duty, call, performs
from app.config import Settings
from app.db import Database
from app.files import storage
from app.files.service import purge

if TYPE_CHECKING:
    from app.jobs.runner import JobRuntime

logger = logging.getLogger("app.files")

BATCH = 100
# A deletion is finished by its own request; only one stuck this long is cleanup's business.
DELETE_SETTLE_S = 60

_EXPIRED = text(
    """
    SELECT id, user_id FROM files
    WHERE status = 'pending' AND deleted_at IS NULL
      AND created_at < now() - make_interval(secs => :age)
    ORDER BY created_at
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
    """
)
_REJECT = text(
    "UPDATE files SET status = 'rejected', rejected_reason = :reason WHERE id = ANY(:ids)"
)
_DELETED = text(
    """
    SELECT user_id, id FROM files
    WHERE deleted_at < now() - make_interval(secs => :settle)
    ORDER BY deleted_at
    LIMIT :batch
    """
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
            rows = (
                await session.execute(
                    _EXPIRED, {"age": settings.files_pending_max_age_s, "batch": BATCH}
                )
            ).all()
            # Objects go first, under the row locks: no verifier can decide these meanwhile.
            keys = [storage.incoming_key(u, f) for f, u in rows]
            keys += [storage.ready_key(u, f) for f, u in rows]
            await storage.delete_keys(aws, keys)
            if rows:
                await session.execute(_REJECT, {"ids": [f for f, _ in rows], "reason": reason})
        total += len(rows)
        if len(rows) < BATCH:
            return total


async def _purge_deleted(db: Database, aws: AwsClients) -> int:
    total = 0
    while True:
        async with db.side_transaction() as session:
            rows = (
                await session.execute(_DELETED, {"settle": DELETE_SETTLE_S, "batch": BATCH})
            ).all()
        await purge(db=db, aws=aws, records=[(u, f) for u, f in rows])
        total += len(rows)
        if len(rows) < BATCH:
            return total


async def _stray_objects(aws: AwsClients, settings: Settings, now: datetime) -> int:
    cutoff = now - timedelta(seconds=settings.files_pending_max_age_s)
    total = 0
    for prefix in (storage.INCOMING, storage.EXPORTS):
        token: str | None = None
        while True:
            page = await call(
                aws.s3.list_objects_v2,
                Bucket=settings.s3_bucket,
                Prefix=prefix,
                **({"ContinuationToken": token} if token else {}),
            )
            old = [
                item["Key"] for item in page.get("Contents", []) if item["LastModified"] < cutoff
            ]
            await storage.delete_keys(aws, old)
            total += len(old)
            token = page.get("NextContinuationToken")
            if not token:
                break
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


class PeriodicCleanup:
    """The worker's housekeeping calls this often; it cleans up every FILES_CLEANUP_INTERVAL_S."""

    def __init__(self, runtime: JobRuntime) -> None:
        self.runtime = runtime
        self.next_run = time.monotonic()

    async def maybe_run(self) -> CleanupReport | None:
        if time.monotonic() < self.next_run:
            return None
        self.next_run = time.monotonic() + self.runtime.settings.files_cleanup_interval_s
        try:
            return await cleanup(
                db=self.runtime.db, aws=self.runtime.aws, settings=self.runtime.settings
            )
        except Exception:
            logger.warning("files cleanup failed; retrying next interval", exc_info=True)
            return None
