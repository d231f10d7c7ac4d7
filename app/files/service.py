"""Uploads, reads, downloads and deletes (the API side of files)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.ownership import owned_statement, read_owned
from app.aws import AwsClients, call
from app.config import Settings
from app.db import Database
from app.errors import AppError
from app.files import storage
from app.files.models import FileStatus, StoredFile
from app.files.names import content_disposition, sanitize_filename
from app.files.schemas import Download, FileCreate, FileUpload, UploadForm
from app.files.verify import ObjectChanged, verify_upload
from app.pagination import newest_first
from app.ratelimit import consume


def presign_limit_key(user_id: uuid.UUID) -> str:
    return f"presign:{user_id}"


def normalized_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


async def create_upload(
    *,
    session: AsyncSession,
    db: Database,
    aws: AwsClients,
    settings: Settings,
    user_id: uuid.UUID,
    body: FileCreate,
) -> FileUpload:
    """Record a pending file and sign the one POST that may fill its upload key."""
    content_type = normalized_type(body.content_type)
    if content_type not in settings.files.allowed_types:
        raise AppError(
            422,
            "unsupported-file-type",
            f"files of type {content_type!r} are not accepted; "
            f"allowed: {', '.join(settings.files.allowed_types)}",
        )
    if body.size > settings.files.max_bytes:
        raise AppError(
            422,
            "file-too-large",
            f"the file is {body.size} bytes; the limit is {settings.files.max_bytes} bytes",
        )
    # The count commits on a connection of its own: end the user's read first, so this
    # request never holds one connection while it waits for a second.
    await session.commit()
    await consume(
        db,
        keys=[presign_limit_key(user_id)],
        window_s=settings.files.presign_window_s,
        limit=settings.files.presign_max_per_window,
        what="upload requests",
    )

    file_id = uuid.uuid4()
    key = storage.incoming_key(user_id, file_id)
    expires_at = storage.expiry(settings.files.presign_expires_s)
    signed = await call(
        aws.s3.generate_presigned_post,
        Bucket=settings.files.bucket,
        Key=key,
        Fields={"Content-Type": content_type, "success_action_status": "201"},
        Conditions=[
            {"Content-Type": content_type},
            ["content-length-range", 1, body.size],
            {"success_action_status": "201"},
        ],
        ExpiresIn=settings.files.presign_expires_s,
    )
    session.add(
        StoredFile(
            id=file_id,
            user_id=user_id,
            filename=sanitize_filename(body.filename),
            content_type=content_type,
            size=body.size,
            status=FileStatus.PENDING,
            upload_expires_at=expires_at,
        )
    )
    await session.flush()
    return FileUpload(
        file_id=file_id,
        upload=UploadForm(url=signed["url"], fields=signed["fields"]),
        expires_at=expires_at,
    )


_OWNED_FILE = owned_statement(StoredFile, StoredFile.deleted_at.is_(None)).execution_options(
    populate_existing=True
)


async def get_file(*, session: AsyncSession, user_id: uuid.UUID, file_id: uuid.UUID) -> StoredFile:
    """The caller's file; 401 if the caller's account is gone (checked in the same statement)."""
    # Someone else's file is "not found", never "forbidden": ids reveal nothing.
    record = await read_owned(session, _OWNED_FILE, user_id=user_id, row_id=file_id)
    if record is None:
        raise AppError(404, "not-found", "file not found")
    return record


async def list_files(
    *, session: AsyncSession, user_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[StoredFile], str | None]:
    return await newest_first(
        session,
        select(StoredFile).where(StoredFile.user_id == user_id, StoredFile.deleted_at.is_(None)),
        limit=limit,
        cursor=cursor,
    )


async def download(
    *,
    session: AsyncSession,
    aws: AwsClients,
    settings: Settings,
    user_id: uuid.UUID,
    file_id: uuid.UUID,
) -> Download:
    record = await get_file(session=session, user_id=user_id, file_id=file_id)
    if record.status != FileStatus.READY:
        detail = f"the file is {record.status}"
        if record.rejected_reason:
            detail += f": {record.rejected_reason}"
        raise AppError(409, "file-not-ready", detail)
    url, expires_at = await storage.presigned_get(
        aws,
        key=storage.ready_key(user_id, file_id),
        expires_s=settings.files.download_expires_s,
        disposition=content_disposition(record.filename),
        content_type=record.content_type,
    )
    return Download(url=url, expires_at=expires_at)


async def complete(
    *,
    session: AsyncSession,
    db: Database,
    aws: AwsClients,
    settings: Settings,
    user_id: uuid.UUID,
    file_id: uuid.UUID,
) -> StoredFile:
    """The client says its upload finished: verify now (the S3 event may still be on its way)."""
    record = await get_file(session=session, user_id=user_id, file_id=file_id)
    if record.status != FileStatus.PENDING:
        return record
    # End the read: verification runs its own transactions, and holding this connection
    # while it waits for another would starve the pool (Lambda has exactly one).
    await session.commit()
    try:
        verdict = await verify_upload(
            db=db, aws=aws, settings=settings, user_id=user_id, file_id=file_id
        )
    except ObjectChanged as exc:
        raise AppError(
            409, "upload-changed", "the upload changed while it was being checked; try again"
        ) from exc
    if verdict.status is None:
        raise AppError(
            409, "upload-missing", "no upload has arrived for this file yet; upload it first"
        )
    return await get_file(session=session, user_id=user_id, file_id=file_id)


async def purge(
    *, db: Database, aws: AwsClients, records: list[tuple[uuid.UUID, uuid.UUID]]
) -> None:
    """Remove deleted files for good: objects first, then the rows (user_id, file_id)."""
    if not records:
        return
    keys = [storage.incoming_key(u, f) for u, f in records] + [
        storage.ready_key(u, f) for u, f in records
    ]
    await storage.delete_keys(aws, keys)
    async with db.side_transaction() as session:
        await session.execute(
            delete(StoredFile).where(
                StoredFile.id.in_([f for _, f in records]), StoredFile.deleted_at.is_not(None)
            )
        )


async def delete_file(
    *, session: AsyncSession, db: Database, aws: AwsClients, user_id: uuid.UUID, file_id: uuid.UUID
) -> None:
    """Idempotent: a file already gone (or never this user's) is simply not there."""
    marked = await session.scalar(
        update(StoredFile)
        .where(StoredFile.id == file_id, StoredFile.user_id == user_id)
        .values(deleted_at=func.coalesce(StoredFile.deleted_at, func.now()))
        .returning(StoredFile.id)
    )
    if marked is None:
        return
    # Committed first: from here no verifier decides it, and a crash is finished by cleanup.
    await session.commit()
    await purge(db=db, aws=aws, records=[(user_id, file_id)])
