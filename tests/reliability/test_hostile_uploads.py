"""Hostile uploads: forged fields, hostile file names, and a presign burst from one user.

Covered in tests/files (and listed in the README's results table): an upload arriving after its
policy expired, declared vs actual size and type mismatches, another user's file (404 on every
route), a second POST after a file is ready. moto enforces no POST policy, so what S3 would
refuse is checked here on the signed policy itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from app.local.aws import LOCAL_CREDENTIALS
from tests.conftest import assert_problem, auth_headers
from tests.files.conftest import complete, start_upload, uploaded
from tests.reliability.conftest import CommittedApp, scaled


@pytest.fixture
async def headers(client: httpx.AsyncClient) -> dict[str, str]:
    return await auth_headers(client)


def _sigv4_policy_signature(fields: dict[str, str], secret: str) -> str:
    """What S3 recomputes on every POST: HMAC over the base64 policy, with the SigV4 key."""
    _, date, region, service, _ = fields["x-amz-credential"].split("/")
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "forged",
    [
        {"key": "incoming/00000000-0000-0000-0000-000000000000/x"},
        {"user_id": str(uuid.uuid4())},
        {"bucket": "someone-elses"},
        {"Content-Type": "text/html"},
    ],
)
async def test_forged_request_fields_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str], forged: dict[str, str]
) -> None:
    body = {"filename": "a.txt", "content_type": "text/plain", "size": 5, **forged}
    assert_problem(
        await client.post("/v1/files", json=body, headers=headers), 422, "validation-error"
    )
    assert (await client.get("/v1/files", headers=headers)).json()["items"] == []


async def test_forged_upload_fields_would_break_the_policy_signature(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """The key, type and size range are conditions of a signed policy: a client that changes
    a field (another user's key, a bigger range) sends a policy S3 no longer accepts."""
    fields = (await start_upload(client, headers, size=10))["upload"]["fields"]
    secret = LOCAL_CREDENTIALS["aws_secret_access_key"]
    assert _sigv4_policy_signature(fields, secret) == fields["x-amz-signature"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    victim = f"incoming/{uuid.uuid4()}/{uuid.uuid4()}"
    conditions = [
        {"key": victim} if isinstance(c, dict) and "key" in c else c for c in policy["conditions"]
    ]
    conditions = [
        ["content-length-range", 1, 10**9] if isinstance(c, list) else c for c in conditions
    ]
    forged = base64.b64encode(json.dumps({**policy, "conditions": conditions}).encode()).decode()
    assert (
        _sigv4_policy_signature({**fields, "policy": forged}, secret) != fields["x-amz-signature"]
    )


HOSTILE_NAMES = [
    "../../../etc/passwd",
    "..\\..\\windows\\system32\\drivers\\etc\\hosts",
    "report\x00.pdf.exe",
    "invoice\u202egpj.exe",  # right-to-left override: displays as "invoiceexe.jpg"
    "a\r\nContent-Type: text/html\r\n\r\n<script>.txt",
    "zero\u200bwidth\ufeff.txt",
    "n" * 1000 + ".txt",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
async def test_hostile_filenames_are_defused_end_to_end(
    client: httpx.AsyncClient, headers: dict[str, str], name: str
) -> None:
    upload = await uploaded(client, headers, b"hello", filename=name)
    record = await complete(client, headers, upload["file_id"])
    stored: str = record["filename"]
    assert record["status"] == "ready"
    assert not {"/", "\\", "\x00", "\r", "\n"} & set(stored)
    assert all(unicodedata.category(ch) not in {"Cc", "Cf"} for ch in stored)
    assert 0 < len(stored) <= 200
    link = (await client.get(f"/v1/files/{upload['file_id']}/download", headers=headers)).json()
    disposition = parse_qs(urlsplit(link["url"]).query)["response-content-disposition"][0]
    assert disposition.startswith("attachment;")
    assert not {"\r", "\n", "\x00"} & set(unquote(disposition))
    async with httpx.AsyncClient() as browser:
        fetched = await browser.get(link["url"])
    assert fetched.content == b"hello"
    assert fetched.headers["content-disposition"] == disposition


async def test_a_4kb_filename_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    body = {"filename": "x" * 4096, "content_type": "text/plain", "size": 5}
    assert_problem(
        await client.post("/v1/files", json=body, headers=headers), 422, "validation-error"
    )


async def test_a_presign_burst_from_one_user_meets_its_limit_exactly(
    committed_app: Callable[..., Awaitable[CommittedApp]],
) -> None:
    """Concurrent requests from one user through two app instances (as two processes would be)
    sharing one database: exactly the limit succeeds, every other one is a 429."""
    limit = 10
    first, client = await committed_app(files_presign_max_per_window=limit)
    url = first.state.settings.db.require_url()
    _, other = await committed_app(files_presign_max_per_window=limit, database_url=url)
    headers = await auth_headers(client)
    burst = scaled(25, 120)
    body = {"filename": "a.txt", "content_type": "text/plain", "size": 5}
    responses = await asyncio.gather(
        *(
            (client if i % 2 else other).post("/v1/files", json=body, headers=headers)
            for i in range(burst)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * limit + [429] * (burst - limit), statuses
    for response in responses:
        if response.status_code == 429:
            assert_problem(response, 429, "rate-limited")
            assert int(response.headers["retry-after"]) >= 1
    listed: list[Any] = (await client.get("/v1/files?limit=100", headers=headers)).json()["items"]
    assert len(listed) == limit  # no record for a refused request
