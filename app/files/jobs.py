"""What files give the jobs core: the kinds ``ingest`` (verify an upload; the system's own)
and ``export``, S3's upload events as a message source, and the periodic cleanup."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from app.examples import with_example
from app.files import storage
from app.files.export import write_manifest
from app.files.names import content_disposition
from app.files.verify import verify_upload
from app.jobs.registry import JobContext, PermanentJobError, job_kind, periodic_task
from app.jobs.runtime import JobRuntime


class IngestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: uuid.UUID
    file_id: uuid.UUID
    # When S3 stored the object (the event time); checked against the upload's expiry.
    event_time: AwareDatetime | None = None


@job_kind("ingest", input_model=IngestInput, user_submittable=False)
async def ingest(ctx: JobContext, data: IngestInput) -> dict[str, Any]:
    verdict = await verify_upload(
        db=ctx.db,
        aws=ctx.aws,
        settings=ctx.settings,
        user_id=data.user_id,
        file_id=data.file_id,
        arrived_at=data.event_time,
    )
    return verdict.as_result(data.file_id)


class ExportInput(BaseModel):
    model_config = with_example({}, extra="forbid")


@job_kind("export", input_model=ExportInput)
async def export(ctx: JobContext, data: ExportInput) -> dict[str, Any]:
    if ctx.user_id is None:
        raise PermanentJobError("an export belongs to a user")
    key = storage.export_key(ctx.user_id, ctx.job_id)
    name = f"trident-files-{datetime.now(UTC):%Y-%m-%d}.csv"
    rows, size = await write_manifest(
        db=ctx.db, aws=ctx.aws, user_id=ctx.user_id, key=key, disposition=content_disposition(name)
    )
    url, expires_at = await storage.presigned_get(
        ctx.aws,
        key=key,
        expires_s=ctx.settings.files.download_expires_s,
        disposition=content_disposition(name),
        content_type="text/csv",
    )
    return {"url": url, "expires_at": expires_at.isoformat(), "rows": rows, "bytes": size}


@periodic_task("files-cleanup", interval_s=lambda settings: settings.files.cleanup_interval_s)
async def files_cleanup(runtime: JobRuntime) -> Mapping[str, int]:
    # Imported when first due: the Lambda SQS consumer's cold start need not pay for it.
    from app.files.cleanup import cleanup

    report = await cleanup(db=runtime.db, aws=runtime.aws, settings=runtime.settings)
    return asdict(report)
