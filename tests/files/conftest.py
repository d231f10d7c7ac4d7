"""Helpers for files tests: start an upload through the API, then POST it to moto like a browser."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import boto3
import httpx
import pytest
from sqlalchemy import text

from app.db import Database
from app.local.aws import configure_bucket
from tests.conftest import PASSWORD
from tests.jobs.conftest import JobsStack, stack_factory  # noqa: F401  (shared fixture)


async def start_upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    filename: str = "notes.txt",
    content_type: str = "text/plain",
    size: int = 11,
) -> dict[str, Any]:
    response = await client.post(
        "/v1/files",
        json={"filename": filename, "content_type": content_type, "size": size},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_to_s3(
    upload: dict[str, Any], content: bytes, *, content_type: str | None = None
) -> None:
    """What the page does: every field, then the file. moto checks none of the conditions."""
    fields = dict(upload["fields"])
    if content_type is not None:
        fields["Content-Type"] = content_type
    async with httpx.AsyncClient() as s3:
        response = await s3.post(
            upload["url"],
            data=fields,
            files={"file": ("blob", content, "application/octet-stream")},
        )
    assert response.status_code == 201, response.text


async def uploaded(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes,
    *,
    filename: str = "notes.txt",
    content_type: str = "text/plain",
    declared_size: int | None = None,
) -> dict[str, Any]:
    """Start an upload and put ``content`` under its key; returns the 201 body."""
    upload = await start_upload(
        client,
        headers,
        filename=filename,
        content_type=content_type,
        size=len(content) if declared_size is None else declared_size,
    )
    await post_to_s3(upload["upload"], content)
    return upload


async def complete(
    client: httpx.AsyncClient, headers: dict[str, str], file_id: str
) -> dict[str, Any]:
    response = await client.post(f"/v1/files/{file_id}/complete", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def s3_client(endpoint_url: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount"))


@pytest.fixture
async def events_stack(stack_factory: Callable[..., Awaitable[JobsStack]]) -> JobsStack:  # noqa: F811
    """A jobs stack (own database, queues, in-process workers) whose bucket sends upload
    events to its jobs queue, as the real bucket does."""
    stack = await stack_factory()
    configure_bucket(
        stack.queues.endpoint_url,
        region="us-east-1",
        bucket=stack.queues.bucket,
        queue_url=stack.queues.jobs_queue_url,
    )
    return stack


def new_id() -> str:
    return str(uuid.uuid4())


# Rows written directly, for tests of what happens to old or half-finished uploads.
_INSERT = text(
    """
    INSERT INTO files (id, user_id, filename, content_type, size, status, sha256, ready_at,
                       upload_expires_at, created_at, deleted_at)
    VALUES (:id, :user_id, 'f.txt', 'text/plain', 3, CAST(:status AS varchar),
            CASE WHEN CAST(:status AS varchar) = 'ready' THEN repeat('0', 64) END,
            CASE WHEN CAST(:status AS varchar) = 'ready' THEN now() END,
            now() + interval '10 minutes', now() - make_interval(secs => :age),
            now() - make_interval(secs => CAST(:deleted_ago AS integer)))
    """
)


async def insert_user(db: Database) -> uuid.UUID:
    user_id = uuid.uuid4()
    async with db.side_transaction() as session:
        await session.execute(
            text("INSERT INTO users (id, email, password_hash) VALUES (:id, :email, :hash)"),
            {"id": user_id, "email": f"{user_id}@example.com", "hash": PASSWORD},
        )
    return user_id


async def insert_file(
    db: Database,
    user_id: uuid.UUID,
    *,
    status: str = "pending",
    age_s: int = 0,
    deleted_ago_s: int | None = None,
) -> uuid.UUID:
    file_id = uuid.uuid4()
    async with db.side_transaction() as session:
        await session.execute(
            _INSERT,
            {
                "id": file_id,
                "user_id": user_id,
                "status": status,
                "age": age_s,
                "deleted_ago": deleted_ago_s,
            },
        )
    return file_id
