"""The ``export`` job's work: a CSV manifest of a user's ready files, streamed into S3.

Rows come from a server-side cursor and leave in multipart parts, so memory stays flat
(one part buffer) however many files the account holds.
"""

from __future__ import annotations

import contextlib
import csv
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select

from app.aws import AwsClients, call
from app.db import Database
from app.files.models import FileStatus, StoredFile

# S3's minimum for every part but the last.
PART_BYTES = 5 * 1024 * 1024
FETCH_ROWS = 1000
HEADER = ("name", "type", "size", "sha256", "created")
# Cells a spreadsheet would run as a formula (CSV injection) get a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


async def _rows(db: Database, user_id: uuid.UUID) -> AsyncIterator[tuple[str, ...]]:
    query = (
        select(
            StoredFile.filename,
            StoredFile.content_type,
            StoredFile.size,
            StoredFile.sha256,
            StoredFile.created_at,
        )
        .where(
            StoredFile.user_id == user_id,
            StoredFile.status == FileStatus.READY,
            StoredFile.deleted_at.is_(None),
        )
        .order_by(StoredFile.created_at, StoredFile.id)
        .execution_options(yield_per=FETCH_ROWS)
    )
    async with db.side_transaction() as session:
        result = await session.stream(query)
        async for name, content_type, size, sha256, created in result:
            yield (_cell(name), content_type, str(size), sha256 or "", created.isoformat())


class MultipartWriter:
    """Bytes in, S3 parts out; ``close`` completes the object, ``abort`` drops it."""

    def __init__(self, aws: AwsClients, key: str, *, content_type: str, disposition: str) -> None:
        self.aws = aws
        self.bucket = aws.settings.files.bucket
        self.key = key
        self.content_type = content_type
        self.disposition = disposition
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.buffer = bytearray()
        self.size = 0

    async def start(self) -> None:
        created = await call(
            self.aws.s3.create_multipart_upload,
            Bucket=self.bucket,
            Key=self.key,
            ContentType=self.content_type,
            ContentDisposition=self.disposition,
        )
        self.upload_id = created["UploadId"]

    async def write(self, data: bytes) -> None:
        self.buffer += data
        self.size += len(data)
        if len(self.buffer) >= PART_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        number = len(self.parts) + 1
        part = await call(
            self.aws.s3.upload_part,
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=bytes(self.buffer),
        )
        self.parts.append({"PartNumber": number, "ETag": part["ETag"]})
        self.buffer.clear()

    async def close(self) -> None:
        if self.buffer or not self.parts:
            await self._flush()
        await call(
            self.aws.s3.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    async def abort(self) -> None:
        if self.upload_id is not None:
            await call(
                self.aws.s3.abort_multipart_upload,
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
            )


async def write_manifest(
    *, db: Database, aws: AwsClients, user_id: uuid.UUID, key: str, disposition: str
) -> tuple[int, int]:
    """Write the manifest to ``key``; returns (rows, bytes)."""
    writer = MultipartWriter(aws, key, content_type="text/csv", disposition=disposition)
    await writer.start()
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\r\n")
    rows = 0
    try:
        out.writerow(HEADER)
        async for row in _rows(db, user_id):
            out.writerow(row)
            rows += 1
            if text.tell() >= 64 * 1024:
                await writer.write(text.getvalue().encode())
                text.seek(0)
                text.truncate()
        await writer.write(text.getvalue().encode())
        await writer.close()
    except BaseException:
        # Never let a failed abort hide why the export failed; S3 lifecycle ends stale uploads.
        with contextlib.suppress(Exception):
            await writer.abort()
        raise
    return rows, writer.size
