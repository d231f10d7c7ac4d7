"""The ``export`` job: a CSV manifest of the user's ready files, streamed to S3."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import text

from tests.conftest import assert_problem, auth_headers
from tests.jobs.conftest import JobsStack

_INSERT = text(
    """
    INSERT INTO files (id, user_id, filename, content_type, size, status, sha256, ready_at,
                       upload_expires_at, deleted_at, rejected_reason)
    SELECT gen_random_uuid(), :user_id, :name || n, 'text/plain', n,
           CAST(:status AS varchar),
           CASE WHEN CAST(:status AS varchar) = 'ready' THEN md5(n::text) || md5(n::text) END,
           CASE WHEN CAST(:status AS varchar) = 'ready' THEN now() END,
           now(), CASE WHEN :deleted THEN now() END,
           CASE WHEN CAST(:status AS varchar) = 'rejected' THEN 'bad' END
    FROM generate_series(1, :count) AS n
    """
)


async def _user_id(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    user_id: str = (await client.get("/v1/users/me", headers=headers)).json()["id"]
    return user_id


async def _add(
    stack: JobsStack,
    user_id: str,
    *,
    name: str = "file-",
    status: str = "ready",
    count: int = 1,
    deleted: bool = False,
) -> None:
    async with stack.runtime.db.side_transaction() as session:
        await session.execute(
            _INSERT,
            {
                "user_id": user_id,
                "name": name,
                "status": status,
                "count": count,
                "deleted": deleted,
            },
        )


async def _export(stack: JobsStack) -> tuple[dict[str, Any], httpx.Response]:
    job_id = await stack.submit("export")
    job = await stack.until_status(job_id, "succeeded", "failed", "dead")
    assert job["status"] == "succeeded", job
    async with httpx.AsyncClient() as browser:
        download = await browser.get(job["result"]["url"])
    assert download.status_code == 200
    return job, download


async def test_export_lists_only_the_users_ready_files(
    stack_factory: Callable[..., Awaitable[JobsStack]],
) -> None:
    stack = await stack_factory()
    me = await _user_id(stack.client, stack.headers)
    other = await _user_id(stack.client, await auth_headers(stack.client))
    await _add(stack, me, name="=HYPERLINK(", count=1)  # a formula, if opened in a spreadsheet
    await _add(stack, me, name="report-", count=2)
    await _add(stack, me, status="pending")
    await _add(stack, me, status="rejected")
    await _add(stack, me, name="gone-", deleted=True)
    await _add(stack, other, name="not-mine-")

    job, download = await _export(stack)
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["name", "type", "size", "sha256", "created"]
    assert [row[0] for row in rows[1:]] == ["'=HYPERLINK(1", "report-1", "report-2"]
    assert rows[2][1:4] == ["text/plain", "1", "c4ca4238a0b923820dcc509a6f75849b" * 2]
    assert job["result"]["rows"] == 3
    assert job["result"]["expires_at"]
    assert download.headers["content-disposition"].startswith("attachment; ")
    key = f"exports/{me}/{job['job_id']}.csv"
    assert key in job["result"]["url"]

    # Verification is the system's own job: users cannot submit it.
    ingest = await stack.client.post(
        "/v1/jobs",
        json={"kind": "ingest", "input": {"user_id": me, "file_id": me}},
        headers=stack.headers,
    )
    assert_problem(ingest, 422, "unknown-job-kind")


async def test_large_export_streams_in_parts(
    stack_factory: Callable[..., Awaitable[JobsStack]],
) -> None:
    stack = await stack_factory()
    me = await _user_id(stack.client, stack.headers)
    count = 34_000  # about 5.7 MB of CSV: more than one 5 MiB part
    await _add(stack, me, name="a-fairly-long-file-name-to-fill-the-manifest-", count=count)
    job, download = await _export(stack)
    assert job["result"]["rows"] == count
    assert job["result"]["bytes"] == len(download.content) > 5 * 1024 * 1024
    assert download.text.count("\r\n") == count + 1
    etag = download.headers["etag"].strip('"')
    assert etag.endswith("-2")  # a multipart object of two parts
