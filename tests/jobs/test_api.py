"""The jobs API, in-process (rolled back); the worker side is in test_delivery.py."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.conftest import assert_problem, auth_headers


def _queue_bodies(settings: Any) -> list[str]:
    sqs = boto3.client("sqs", endpoint_url=settings.aws.endpoint_url, region_name="us-east-1")
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=settings.jobs.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", [])
        if not got:
            return bodies
        bodies += [m["Body"] for m in got]


async def test_submit_returns_202_with_location_and_sends_message(client: Any, app: Any) -> None:
    headers = await auth_headers(client)
    response = await client.post(
        "/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}}, headers=headers
    )
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued"
    assert job["attempts"] == 0
    assert response.headers["location"] == f"/v1/jobs/{job['job_id']}"
    assert json.dumps({"job_id": job["job_id"]}) in _queue_bodies(app.state.settings)

    fetched = await client.get(response.headers["location"], headers=headers)
    assert fetched.status_code == 200
    assert set(fetched.json()) == {
        "job_id", "kind", "status", "attempts", "input", "result", "error",
        "created_at", "started_at", "finished_at",
    }  # fmt: skip
    assert fetched.json()["input"] == {"seconds": 0.0}
    cached = await client.get(
        response.headers["location"], headers={**headers, "If-None-Match": fetched.headers["etag"]}
    )
    assert cached.status_code == 304


async def test_idempotency_key_returns_the_same_job(client: Any) -> None:
    headers = await auth_headers(client)
    body = {"kind": "sleep", "input": {"seconds": 1}, "idempotency_key": "k-1"}
    first = await client.post("/v1/jobs", json=body, headers=headers)
    again = await client.post("/v1/jobs", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["job_id"] == first.json()["job_id"]
    listed = (await client.get("/v1/jobs", headers=headers)).json()["items"]
    assert len(listed) == 1
    different = await client.post(
        "/v1/jobs", json={**body, "input": {"seconds": 2}}, headers=headers
    )
    assert_problem(different, 409, "idempotency-key-reused")
    # Keys are per user: another user's identical key is a new job.
    other = await client.post("/v1/jobs", json=body, headers=await auth_headers(client))
    assert other.status_code == 202
    assert other.json()["job_id"] != first.json()["job_id"]


async def test_submission_errors_are_422_problems(client: Any) -> None:
    headers = await auth_headers(client)
    cases = [
        ({"kind": "no-such-kind", "input": {}}, "unknown-job-kind"),
        ({"kind": "sleep", "input": {"seconds": -1}}, "invalid-job-input"),
        ({"kind": "sleep", "input": {"seconds": 1, "extra": True}}, "invalid-job-input"),
        ({"kind": "flaky", "input": {}}, "invalid-job-input"),
        ({"kind": "sleep", "input": "not an object"}, "validation-error"),
        ({"input": {}}, "validation-error"),
    ]
    for payload, slug in cases:
        assert_problem(await client.post("/v1/jobs", json=payload, headers=headers), 422, slug)


async def test_diagnostic_kinds_do_not_exist_outside_local(app_factory: Any) -> None:
    import httpx

    app = app_factory(target="fargate", docs_enabled=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        headers = await auth_headers(client)
        response = await client.post(
            "/v1/jobs", json={"kind": "sleep", "input": {}}, headers=headers
        )
    body = assert_problem(response, 422, "unknown-job-kind")
    assert "sleep" not in body["detail"].split("kinds:")[1]


async def test_jobs_are_private_and_need_auth(client: Any) -> None:
    owner = await auth_headers(client)
    job = (await client.post("/v1/jobs", json={"kind": "sleep"}, headers=owner)).json()
    stranger = await auth_headers(client)
    for method, path in [
        ("GET", f"/v1/jobs/{job['job_id']}"),
        ("POST", f"/v1/jobs/{job['job_id']}/retry"),
    ]:
        assert_problem(await client.request(method, path, headers=stranger), 404, "not-found")
        assert_problem(await client.request(method, path), 401, "invalid-token")
    assert (await client.get("/v1/jobs", headers=stranger)).json()["items"] == []
    assert_problem(await client.get("/v1/jobs/not-a-uuid", headers=owner), 422, "validation-error")


async def test_list_is_paginated_newest_first(client: Any) -> None:
    headers = await auth_headers(client)
    ids = [
        (
            await client.post(
                "/v1/jobs", json={"kind": "sleep", "input": {"seconds": i}}, headers=headers
            )
        ).json()["job_id"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/jobs", params=params, headers=headers)).json()
        assert len(page["items"]) <= 2
        seen += [item["job_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert_problem(
        await client.get("/v1/jobs", params={"limit": 101}, headers=headers),
        422,
        "validation-error",
    )
    assert_problem(
        await client.get("/v1/jobs", params={"cursor": "%%%"}, headers=headers),
        422,
        "invalid-cursor",
    )


async def test_retry_only_failed_or_dead(client: Any) -> None:
    headers = await auth_headers(client)
    job = (await client.post("/v1/jobs", json={"kind": "sleep"}, headers=headers)).json()
    response = await client.post(f"/v1/jobs/{job['job_id']}/retry", headers=headers)
    body = assert_problem(response, 409, "job-not-retryable")
    assert "queued" in body["detail"]
