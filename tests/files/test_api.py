"""The files API on the real local stack (PostgreSQL, moto's S3), in-process app."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from sqlalchemy import text

from app.config import Settings
from app.db import Database
from app.files import storage
from app.files.verify import verify_upload
from tests.conftest import assert_problem, auth_headers
from tests.files.conftest import (
    complete,
    new_id,
    object_exists,
    post_to_s3,
    s3_client,
    start_upload,
    uploaded,
)

CONTENT = b"hello world"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
async def headers(client: httpx.AsyncClient) -> dict[str, str]:
    return await auth_headers(client)


async def test_presigned_post_names_the_key_type_size_and_expiry(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    before = datetime.now(UTC)
    response = await client.post(
        "/v1/files",
        json={"filename": "../../etc/passwd", "content_type": "text/plain", "size": 42},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending"
    assert response.headers["location"] == f"/v1/files/{body['file_id']}"
    me = (await client.get("/v1/users/me", headers=headers)).json()
    fields = body["upload"]["fields"]
    key = f"incoming/{me['id']}/{body['file_id']}"
    assert fields["key"] == key  # chosen by the server; the filename is no part of it
    assert fields["Content-Type"] == "text/plain"
    assert fields["success_action_status"] == "201"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"key": key} in conditions
    assert {"Content-Type": "text/plain"} in conditions
    assert ["content-length-range", 1, 42] in conditions
    assert {"success_action_status": "201"} in conditions
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=590) < expires_at - before < timedelta(seconds=610)
    assert datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")) >= expires_at

    record = (await client.get(f"/v1/files/{body['file_id']}", headers=headers)).json()
    assert record["filename"] == "passwd"
    assert record["status"] == "pending"
    assert record["size"] == 42


@pytest.mark.parametrize(
    ("payload", "slug"),
    [
        ({"filename": "a.html", "content_type": "text/html", "size": 10}, "unsupported-file-type"),
        ({"filename": "a.txt", "content_type": "text/plain", "size": 0}, "validation-error"),
        ({"filename": "a.txt", "content_type": "text/plain", "size": -5}, "validation-error"),
        (
            {"filename": "big.zip", "content_type": "application/zip", "size": 100 * 2**20 + 1},
            "file-too-large",
        ),
    ],
)
async def test_bad_declarations_are_refused_before_signing(
    client: httpx.AsyncClient, headers: dict[str, str], payload: dict[str, Any], slug: str
) -> None:
    response = await client.post("/v1/files", json=payload, headers=headers)
    problem = assert_problem(response, 422, slug)
    if slug == "unsupported-file-type":
        assert "image/png" in problem["detail"]  # says what is allowed
    listed = (await client.get("/v1/files", headers=headers)).json()
    assert listed["items"] == []


async def test_presigning_is_rate_limited_per_user(app_factory: Any) -> None:
    app = app_factory(files_presign_max_per_window=2)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        first, second = await auth_headers(client), await auth_headers(client)
        for _ in range(2):
            await start_upload(client, first)
        limited = await client.post(
            "/v1/files",
            json={"filename": "a.txt", "content_type": "text/plain", "size": 1},
            headers=first,
        )
        assert_problem(limited, 429, "rate-limited")
        assert int(limited.headers["retry-after"]) >= 1
        await start_upload(client, second)  # another user is not affected


async def test_upload_complete_get_list_download_round_trip(
    client: httpx.AsyncClient, headers: dict[str, str], settings: Settings
) -> None:
    name = "Résumé 履歴書 2026.pdf"
    pdf = b"%PDF-1.7\n" + b"x" * 5000
    first = await uploaded(client, headers, CONTENT)
    upload = await uploaded(client, headers, pdf, filename=name, content_type="application/pdf")
    file_id = upload["file_id"]

    ready = await complete(client, headers, file_id)
    assert ready["status"] == "ready"
    assert ready["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert ready["size"] == len(pdf)
    assert ready["filename"] == name
    assert ready["ready_at"] is not None
    assert ready["rejected_reason"] is None
    assert await complete(client, headers, file_id) == ready  # a duplicate changes nothing

    one = await client.get(f"/v1/files/{file_id}", headers=headers)
    assert one.json() == ready
    again = await client.get(
        f"/v1/files/{file_id}", headers={**headers, "If-None-Match": one.headers["etag"]}
    )
    assert again.status_code == 304

    page = (await client.get("/v1/files?limit=1", headers=headers)).json()
    assert [item["file_id"] for item in page["items"]] == [file_id]  # newest first
    rest = await client.get(f"/v1/files?limit=1&cursor={page['next_cursor']}", headers=headers)
    assert [item["file_id"] for item in rest.json()["items"]] == [first["file_id"]]
    assert rest.json()["next_cursor"] is None

    link = await client.get(f"/v1/files/{file_id}/download", headers=headers)
    assert link.status_code == 200, link.text
    query = parse_qs(urlsplit(link.json()["url"]).query)
    assert int(query["X-Amz-Expires"][0]) == settings.files.download_expires_s
    async with httpx.AsyncClient() as browser:
        fetched = await browser.get(link.json()["url"])
    assert fetched.status_code == 200
    assert fetched.content == pdf
    disposition = fetched.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == name
    assert fetched.headers["content-type"] == "application/pdf"


async def test_download_of_a_file_not_ready_is_a_conflict(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    upload = await start_upload(client, headers)
    response = await client.get(f"/v1/files/{upload['file_id']}/download", headers=headers)
    assert_problem(response, 409, "file-not-ready")
    missing = await client.post(f"/v1/files/{upload['file_id']}/complete", headers=headers)
    assert_problem(missing, 409, "upload-missing")  # nothing uploaded yet


async def test_another_users_file_is_not_found(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    upload = await uploaded(client, headers, CONTENT)
    file_id = upload["file_id"]
    await complete(client, headers, file_id)
    stranger = await auth_headers(client)
    for method, path in [
        ("GET", f"/v1/files/{file_id}"),
        ("GET", f"/v1/files/{file_id}/download"),
        ("POST", f"/v1/files/{file_id}/complete"),
    ]:
        assert_problem(await client.request(method, path, headers=stranger), 404, "not-found")
    assert (await client.get("/v1/files", headers=stranger)).json()["items"] == []
    # Deleting it is "already gone" for them, and changes nothing for its owner.
    assert (await client.delete(f"/v1/files/{file_id}", headers=stranger)).status_code == 204
    assert (await client.get(f"/v1/files/{file_id}", headers=headers)).json()["status"] == "ready"
    assert_problem(await client.get(f"/v1/files/{new_id()}", headers=headers), 404, "not-found")


async def test_delete_removes_objects_and_record_and_repeats_harmlessly(
    client: httpx.AsyncClient, headers: dict[str, str], settings: Settings
) -> None:
    upload = await uploaded(client, headers, CONTENT)
    file_id = upload["file_id"]
    await complete(client, headers, file_id)
    key = upload["upload"]["fields"]["key"].replace("incoming/", "files/")
    s3 = s3_client(settings.aws.endpoint_url or "")
    assert object_exists(s3, settings.files.bucket, key)

    for _ in range(2):
        assert (await client.delete(f"/v1/files/{file_id}", headers=headers)).status_code == 204
    assert not object_exists(s3, settings.files.bucket, key)
    assert_problem(await client.get(f"/v1/files/{file_id}", headers=headers), 404, "not-found")
    assert (await client.get("/v1/files", headers=headers)).json()["items"] == []


@pytest.mark.parametrize(
    ("content", "declared", "content_type", "sent_type", "reason"),
    [
        # moto accepts more than content-length-range allows; S3 would not, so neither do we.
        (CONTENT * 2, len(CONTENT), "text/plain", None, "more than the 11 bytes declared"),
        (b"", len(CONTENT), "text/plain", None, "the file is empty"),
        (b"just some text", None, "image/png", None, "the content is not image/png"),
        (b"GIF89a" + b"\x00" * 20, None, "image/jpeg", None, "the content is not image/jpeg"),
        (PNG, None, "image/png", "text/html", "uploaded as text/html"),
        # Valid UTF-8 for the first 1.5 MB, then one byte that is not.
        (b"a" * 1_572_864 + b"\xff" + b"tail", None, "text/csv", None, "at byte 1572864"),
        (b"caf\xc3", None, "text/plain", None, "ends mid-character"),
    ],
)
async def test_uploads_that_are_not_what_was_declared_are_rejected(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    settings: Settings,
    content: bytes,
    declared: int | None,
    content_type: str,
    sent_type: str | None,
    reason: str,
) -> None:
    upload = await start_upload(
        client,
        headers,
        content_type=content_type,
        size=declared if declared is not None else len(content),
    )
    await post_to_s3(upload["upload"], content, content_type=sent_type)
    record = await complete(client, headers, upload["file_id"])
    assert record["status"] == "rejected"
    assert reason in record["rejected_reason"]
    assert record["sha256"] is None
    # The object is gone, and the file can never be downloaded.
    s3 = s3_client(settings.aws.endpoint_url or "")
    assert not object_exists(s3, settings.files.bucket, upload["upload"]["fields"]["key"])
    link = await client.get(f"/v1/files/{upload['file_id']}/download", headers=headers)
    assert reason in assert_problem(link, 409, "file-not-ready")["detail"]
    assert (await complete(client, headers, upload["file_id"])) == record


async def test_binary_types_pass_on_their_magic_numbers(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    samples = {
        "image/png": PNG,
        "image/jpeg": b"\xff\xd8\xff\xe0" + b"\x00" * 64,
        "application/zip": b"PK\x05\x06" + b"\x00" * 18,
        "text/csv": "name,city\nZoë,Zürich\n".encode(),
    }
    for content_type, content in samples.items():
        upload = await uploaded(client, headers, content, content_type=content_type)
        record = await complete(client, headers, upload["file_id"])
        assert record["status"] == "ready", (content_type, record)


async def test_upload_arriving_after_the_policy_expired_is_rejected(
    client: httpx.AsyncClient, headers: dict[str, str], database: Database
) -> None:
    upload = await start_upload(client, headers, size=len(CONTENT))
    # As if the upload started long after its link expired (moto does not check expiry).
    async with database.side_transaction() as session:
        await session.execute(
            text("UPDATE files SET upload_expires_at = now() - interval '1 hour' WHERE id = :id"),
            {"id": upload["file_id"]},
        )
    await post_to_s3(upload["upload"], CONTENT)
    record = await complete(client, headers, upload["file_id"])
    assert record["status"] == "rejected"
    assert "expired" in record["rejected_reason"]


@pytest.mark.aws_internals
async def test_a_second_post_after_ready_cannot_change_the_file(
    client: httpx.AsyncClient, headers: dict[str, str], database: Database, settings: Settings
) -> None:
    upload = await uploaded(client, headers, CONTENT)
    ready = await complete(client, headers, upload["file_id"])
    assert ready["status"] == "ready"

    # The policy is still valid: the client posts again, different bytes, same key.
    await post_to_s3(upload["upload"], b"replaced!!!")
    s3 = s3_client(settings.aws.endpoint_url or "")
    key = upload["upload"]["fields"]["key"]
    assert object_exists(s3, settings.files.bucket, key)
    me = (await client.get("/v1/users/me", headers=headers)).json()
    # What the S3 event for that POST leads to: a verification, which changes nothing.
    verdict = await verify_upload(
        db=database,
        aws=client._transport.app.state.resources.aws,  # type: ignore[attr-defined]
        settings=settings,
        user_id=uuid.UUID(me["id"]),
        file_id=uuid.UUID(upload["file_id"]),
    )
    assert verdict.status == "ready"
    assert not object_exists(s3, settings.files.bucket, key)  # the stray upload is gone
    assert await complete(client, headers, upload["file_id"]) == ready
    link = (await client.get(f"/v1/files/{upload['file_id']}/download", headers=headers)).json()
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(link["url"])).content == CONTENT


@pytest.mark.aws_internals
async def test_presigned_urls_for_aws_are_regional_and_allowed_by_the_csp(
    settings_factory: Any,
) -> None:
    from app.aws import AwsClients
    from app.middleware import content_security_policy

    settings = settings_factory(aws_endpoint_url=None, aws_region="eu-west-1", s3_bucket="uploads")
    aws = AwsClients(settings)
    post = aws.s3.generate_presigned_post("uploads", "incoming/u/f")
    url, _ = await storage.presigned_get(
        aws, key="files/u/f", expires_s=60, disposition="attachment", content_type="text/plain"
    )
    origin = "https://uploads.s3.eu-west-1.amazonaws.com"
    assert post["url"].rstrip("/") == origin
    assert url.startswith(origin + "/files/u/f?")
    connect_src = content_security_policy(settings).split("connect-src ")[1].split(";")[0]
    assert origin in connect_src.split()
