"""Checking an upload before anyone may use it.

S3 enforces the POST policy (key, type, size range, expiry); moto does not, and clients lie
about content, so everything is checked again here against the object itself: it exists at
the expected key, arrived in time, has the declared Content-Type, is no larger than declared
or allowed, and its bytes are what the type says (magic numbers; UTF-8 throughout for text).
The sha256 is computed on the same single streaming pass, in constant memory.

A passing object is copied to the ready key, a key no upload policy grants, so a second
POST with a still-valid policy can never change a ready file.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from app.aws import AwsClients, call
from app.config import Settings
from app.db import Database
from app.files import storage
from app.files.models import FileStatus, StoredFile

logger = logging.getLogger("app.files")

CHUNK_BYTES = 1024 * 1024
# Up to this many fresh starts when the object is replaced while being checked.
MAX_ROUNDS = 3

TEXT_TYPES = frozenset({"text/plain", "text/csv"})
MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "application/pdf": (b"%PDF-",),
    # A local file header, or the end record of an empty archive.
    "application/zip": (b"PK\x03\x04", b"PK\x05\x06"),
}
CHECKED_TYPES = TEXT_TYPES | MAGIC.keys()


class ContentCheck:
    """Fed the object chunk by chunk: its sha256, size, and whether it is what it claims."""

    def __init__(self, content_type: str) -> None:
        self.content_type = content_type
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.problem: str | None = None
        self._decoder = (
            codecs.getincrementaldecoder("utf-8")("strict") if content_type in TEXT_TYPES else None
        )

    def feed(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        if len(self.head) < 8:
            self.head += chunk[: 8 - len(self.head)]
        if self._decoder is not None and self.problem is None:
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                self.problem = f"text is not valid UTF-8 (at byte {self.size + exc.start})"
        self.size += len(chunk)

    def finish(self) -> str | None:
        """The reason the content does not match its type, or None."""
        if self._decoder is not None and self.problem is None:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.problem = "text is not valid UTF-8 (it ends mid-character)"
        if self.content_type in MAGIC and not self.head.startswith(MAGIC[self.content_type]):
            self.problem = f"the content is not {self.content_type} (its first bytes do not match)"
        return self.problem

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


def _stream(aws: AwsClients, *, key: str, etag: str, check: ContentCheck) -> None:
    """One pass over the object, pinned to the version we inspected (runs in a thread)."""
    response = aws.s3.get_object(Bucket=aws.settings.files.bucket, Key=key, IfMatch=etag)
    body = response["Body"]
    try:
        for chunk in body.iter_chunks(CHUNK_BYTES):
            check.feed(chunk)
    finally:
        body.close()


class ObjectChanged(Exception):
    """The object was replaced while it was being checked; checking again may settle it."""


@dataclass(frozen=True)
class Verdict:
    status: FileStatus | None  # None: there is nothing to decide (no upload, or no record)
    reason: str | None = None

    def as_result(self, file_id: uuid.UUID) -> dict[str, Any]:
        return {
            "file_id": str(file_id),
            "status": self.status.value if self.status else "no-upload",
            "reason": self.reason,
        }


async def _load(db: Database, file_id: uuid.UUID) -> StoredFile | None:
    async with db.side_transaction() as session:
        return await session.scalar(
            select(StoredFile).where(StoredFile.id == file_id, StoredFile.deleted_at.is_(None))
        )


async def verify_upload(
    *,
    db: Database,
    aws: AwsClients,
    settings: Settings,
    user_id: uuid.UUID,
    file_id: uuid.UUID,
    arrived_at: datetime | None = None,
) -> Verdict:
    """Decide a pending upload; safe to run any number of times, concurrently too.

    ``arrived_at`` is the S3 event time; without one (``/complete``) the object's
    Last-Modified stands in for it.
    """
    incoming = storage.incoming_key(user_id, file_id)
    for _ in range(MAX_ROUNDS):
        record = await _load(db, file_id)
        if record is None or record.user_id != user_id:
            # Deleted, or never ours: whatever sits at the upload key is garbage.
            await storage.delete_keys(aws, [incoming])
            return Verdict(None)
        if record.status != FileStatus.PENDING:
            # Decided already; a later POST under a still-valid policy changes nothing.
            await storage.delete_keys(aws, [incoming])
            return Verdict(FileStatus(record.status), record.rejected_reason)
        try:
            return await _decide(db, aws, settings, record, incoming, arrived_at)
        except ObjectChanged:
            logger.info("upload replaced while being checked", extra={"file_id": str(file_id)})
    raise ObjectChanged(f"upload {file_id} kept changing while it was checked")


async def _decide(
    db: Database,
    aws: AwsClients,
    settings: Settings,
    record: StoredFile,
    incoming: str,
    arrived_at: datetime | None,
) -> Verdict:
    meta = await storage.head(aws, incoming)
    if meta is None:
        return Verdict(None)
    reason = _metadata_problem(settings, record, meta, arrived_at)
    check = ContentCheck(record.content_type)
    if reason is None:
        try:
            await call(_stream, aws=aws, key=incoming, etag=meta["ETag"], check=check)
        except Exception as exc:
            if storage.is_precondition_failed(exc) or storage.is_missing(exc):
                raise ObjectChanged from exc
            raise
        reason = check.finish()
    if reason is not None:
        return await _reject(db, aws, record, incoming, reason)
    return await _accept(db, aws, record, incoming, etag=meta["ETag"], check=check)


def _metadata_problem(
    settings: Settings, record: StoredFile, meta: dict[str, Any], arrived_at: datetime | None
) -> str | None:
    arrived = arrived_at or meta["LastModified"]
    if arrived.astimezone(UTC) > record.upload_expires_at + timedelta(
        seconds=settings.files.upload_grace_s
    ):
        return "the upload arrived after its upload link had expired"
    size = int(meta["ContentLength"])
    if size == 0:
        return "the file is empty"
    if size > record.size:
        return f"the file is {size} bytes, more than the {record.size} bytes declared"
    if size > settings.files.max_bytes:
        return f"the file is larger than the {settings.files.max_bytes} byte limit"
    sent_type = str(meta.get("ContentType", "")).split(";")[0].strip().lower()
    if sent_type != record.content_type:
        return (
            f"it was uploaded as {sent_type or 'no type'}, not the declared {record.content_type}"
        )
    return None


_PENDING = (StoredFile.status == FileStatus.PENDING) & StoredFile.deleted_at.is_(None)


async def _locked(session: Any, file_id: uuid.UUID) -> StoredFile | None:
    """The record, locked until the transaction ends, if it is still undecided."""
    record: StoredFile | None = await session.scalar(
        select(StoredFile).where(StoredFile.id == file_id, _PENDING).with_for_update()
    )
    return record


async def _accept(
    db: Database,
    aws: AwsClients,
    record: StoredFile,
    incoming: str,
    *,
    etag: str,
    check: ContentCheck,
) -> Verdict:
    ready = storage.ready_key(record.user_id, record.id)
    async with db.side_transaction() as session:
        # Under the row lock: one verifier at a time copies and decides.
        if await _locked(session, record.id) is None:
            decided = None
        else:
            copied = await call(
                aws.s3.copy_object,
                Bucket=aws.settings.files.bucket,
                Key=ready,
                CopySource={"Bucket": aws.settings.files.bucket, "Key": incoming},
                CopySourceIfMatch=etag,
                ChecksumAlgorithm="SHA256",
                MetadataDirective="COPY",
            )
            # S3 hashes what it copied: proof the ready object is the one we checked.
            copied_sha = copied.get("CopyObjectResult", {}).get("ChecksumSHA256")
            if copied_sha != base64.b64encode(check.digest.digest()).decode():
                await storage.delete_keys(aws, [ready])
                raise ObjectChanged
            await session.execute(
                update(StoredFile)
                .where(StoredFile.id == record.id)
                .values(
                    status=FileStatus.READY,
                    sha256=check.sha256,
                    size=check.size,
                    ready_at=func.now(),
                )
            )
            decided = FileStatus.READY
    if decided is None:
        return await _settled(db, aws, record, incoming)
    # After the commit: a crash here leaves only a stray upload, which cleanup removes.
    await storage.delete_keys(aws, [incoming])
    logger.info("upload verified", extra={"file_id": str(record.id), "size": check.size})
    return Verdict(FileStatus.READY)


async def _reject(
    db: Database, aws: AwsClients, record: StoredFile, incoming: str, reason: str
) -> Verdict:
    async with db.side_transaction() as session:
        if await _locked(session, record.id) is None:
            decided = False
        else:
            await session.execute(
                update(StoredFile)
                .where(StoredFile.id == record.id)
                .values(status=FileStatus.REJECTED, rejected_reason=reason)
            )
            decided = True
    if not decided:
        return await _settled(db, aws, record, incoming)
    # A ready copy left by an earlier crashed attempt goes too.
    await storage.delete_keys(aws, [incoming, storage.ready_key(record.user_id, record.id)])
    logger.info("upload rejected", extra={"file_id": str(record.id), "reason": reason})
    return Verdict(FileStatus.REJECTED, reason)


async def _settled(db: Database, aws: AwsClients, record: StoredFile, incoming: str) -> Verdict:
    """Someone else decided (or deleted) the file first: report their verdict."""
    current = await _load(db, record.id)
    await storage.delete_keys(aws, [incoming])
    if current is None:
        return Verdict(None)
    return Verdict(FileStatus(current.status), current.rejected_reason)
