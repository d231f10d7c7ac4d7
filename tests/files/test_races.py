"""Verification under concurrency, on a database of its own (real commits, real row locks)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.files import verify
from app.files.models import FileStatus
from app.files.verify import verify_upload
from tests.files.conftest import object_exists, post_to_s3, s3_client, start_upload
from tests.jobs.conftest import JobsStack

FIRST = b"first version of the text\n"
SECOND = FIRST.upper()  # same size, other bytes


@pytest.fixture
async def stack(stack_factory: Callable[..., Awaitable[JobsStack]]) -> JobsStack:
    return await stack_factory()


async def _upload(stack: JobsStack, content: bytes) -> tuple[uuid.UUID, uuid.UUID, str]:
    upload = await start_upload(stack.client, stack.headers, size=len(content))
    await post_to_s3(upload["upload"], content)
    me = (await stack.client.get("/v1/users/me", headers=stack.headers)).json()
    return uuid.UUID(me["id"]), uuid.UUID(upload["file_id"]), upload["upload"]["fields"]["key"]


async def _ready_bytes(stack: JobsStack, file_id: uuid.UUID) -> bytes:
    link = await stack.client.get(f"/v1/files/{file_id}/download", headers=stack.headers)
    async with httpx.AsyncClient() as browser:
        return (await browser.get(link.json()["url"])).content


@pytest.mark.aws_internals
async def test_racing_verifications_decide_once(stack: JobsStack) -> None:
    user_id, file_id, _ = await _upload(stack, FIRST)
    runtime = stack.runtime
    verdicts = await asyncio.gather(
        *[
            verify_upload(
                db=runtime.db,
                aws=runtime.aws,
                settings=runtime.settings,
                user_id=user_id,
                file_id=file_id,
            )
            for _ in range(3)
        ]
    )
    assert {v.status for v in verdicts} == {FileStatus.READY}
    assert await _ready_bytes(stack, file_id) == FIRST


@pytest.mark.aws_internals
async def test_an_upload_replaced_mid_check_is_checked_again(
    stack: JobsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 refuses a copy whose source changed (CopySourceIfMatch); moto does not, so the
    SHA-256 S3 computes over the copy must match the one we computed, or we start over."""
    user_id, file_id, key = await _upload(stack, FIRST)
    s3 = s3_client(stack.queues.endpoint_url)
    original = verify._stream
    calls = 0

    def stream_then_swap(**kwargs: Any) -> None:
        nonlocal calls
        original(**kwargs)
        calls += 1
        if calls == 1:  # a second POST lands between our read and our copy
            s3.put_object(
                Bucket=stack.queues.bucket, Key=key, Body=SECOND, ContentType="text/plain"
            )

    monkeypatch.setattr(verify, "_stream", stream_then_swap)
    runtime = stack.runtime
    verdict = await verify_upload(
        db=runtime.db, aws=runtime.aws, settings=runtime.settings, user_id=user_id, file_id=file_id
    )
    assert verdict.status is FileStatus.READY
    assert calls == 2
    record = (await stack.client.get(f"/v1/files/{file_id}", headers=stack.headers)).json()
    # What is recorded is what is stored.
    assert record["sha256"] == hashlib.sha256(SECOND).hexdigest()
    assert await _ready_bytes(stack, file_id) == SECOND


@pytest.mark.aws_internals
async def test_an_upload_landing_after_its_file_was_deleted_is_removed(stack: JobsStack) -> None:
    upload = await start_upload(stack.client, stack.headers, size=len(FIRST))
    file_id = uuid.UUID(upload["file_id"])
    deleted = await stack.client.delete(f"/v1/files/{file_id}", headers=stack.headers)
    assert deleted.status_code == 204
    await post_to_s3(upload["upload"], FIRST)  # the policy outlives the record
    me = (await stack.client.get("/v1/users/me", headers=stack.headers)).json()
    runtime = stack.runtime
    verdict = await verify_upload(
        db=runtime.db,
        aws=runtime.aws,
        settings=runtime.settings,
        user_id=uuid.UUID(me["id"]),
        file_id=file_id,
    )
    assert verdict.status is None
    s3 = s3_client(stack.queues.endpoint_url)
    assert not object_exists(s3, stack.queues.bucket, upload["upload"]["fields"]["key"])
