"""The IAM guard itself: it knows the app's duties and catches a permission the manifest lacks."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError

from app import aws
from cdk import iam_manifest
from cdk.iam_manifest import Duty, Resource
from tests import iam_guard
from tests.conftest import assert_problem, auth_headers
from tests.files.conftest import start_upload


def test_the_app_and_the_manifest_name_the_same_duties() -> None:
    assert {duty.value for duty in aws.Duty} == {duty.value for duty in Duty}


async def test_removing_a_permission_fails_the_test_that_needs_it(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Item 3 of the first-deploy review: without ListBucket, completing a file before its
    # upload gets S3's 403 instead of 404, and the API answers 500 instead of 409.
    serve_http = dict(iam_manifest.DUTY_ACTIONS[Duty.SERVE_HTTP])
    del serve_http[Resource.BUCKET]
    monkeypatch.setitem(iam_manifest.DUTY_ACTIONS, Duty.SERVE_HTTP, serve_http)
    headers = await auth_headers(client)
    upload = await start_upload(client, headers)
    assert iam_guard.GUARD.take_violations() == []  # presigning needs no listing

    missing = await client.post(f"/v1/files/{upload['file_id']}/complete", headers=headers)

    assert_problem(missing, 409, "upload-missing")  # moto does not enforce IAM; the guard does
    assert iam_guard.GUARD.take_violations() == [
        "s3:ListBucket on bucket (duty serve-http) is not in cdk/iam_manifest.py"
    ]


async def test_a_key_outside_the_app_prefixes_is_refused() -> None:
    token = aws.current_duty.set(aws.Duty.SERVE_HTTP)
    try:
        iam_guard.GUARD.require("s3:GetObject", iam_guard.object_resource("secrets/x"))
    finally:
        aws.current_duty.reset(token)
    assert iam_guard.GUARD.take_violations() == [
        "s3:GetObject on key 'secrets/x', outside the app's prefixes (duty serve-http) "
        "is not in cdk/iam_manifest.py"
    ]


def test_a_call_outside_every_entry_point_fails_unless_marked() -> None:
    iam_guard.GUARD.require("s3:GetObject", iam_guard.object_resource("files/x"))
    (violation,) = iam_guard.GUARD.take_violations()
    assert violation.endswith(iam_guard.OUTSIDE_ENTRY_POINTS)
    iam_guard.GUARD.require("s3:GetObject", iam_guard.object_resource("files/x"))
    assert iam_guard.GUARD.take_violations(outside_entry_points=False) == []


@pytest.mark.parametrize(
    ("code", "status"), [("AccessDenied", 403), ("403", 403), ("AccessDeniedException", 400)]
)
async def test_access_denied_is_logged_with_the_duty_and_operation(
    caplog: pytest.LogCaptureFixture, code: str, status: int
) -> None:
    def denied() -> None:
        # HEAD answers carry no body: S3's code is then the bare status, "403".
        raise ClientError(
            {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "HeadObject",
        )

    @aws.performs(aws.Duty.RUN_JOBS)
    async def job() -> None:
        await aws.call(denied)

    with pytest.raises(ClientError):
        await job()
    (record,) = [r for r in caplog.records if r.name == "app.aws"]
    assert record.getMessage().startswith("AWS denied the call")
    assert (record.operation, record.duty) == ("HeadObject", aws.Duty.RUN_JOBS)  # type: ignore[attr-defined]
