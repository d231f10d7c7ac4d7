"""Upload verification through S3 events: moto's bucket notifies the jobs queue, a worker
turns each event into an ``ingest`` job. No ``/complete`` call anywhere here."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
from sqlalchemy import text

from app.files.events import object_created_records
from app.jobs.runner import Outcome, process_message
from tests.files.conftest import object_exists, post_to_s3, s3_client, start_upload
from tests.jobs.conftest import JobsStack

CONTENT = b"plain text, verified by the worker\n"


def _event(bucket: str, key: str, *, event_time: str = "2026-11-27T10:00:00.000Z") -> str:
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": event_time,
        "eventName": "ObjectCreated:Post",
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 3, "sequencer": "0062F0A3B1C2D3E4F5"},
        },
    }
    return json.dumps({"Records": [record]})


async def _file(stack: JobsStack, file_id: str) -> dict[str, Any]:
    response = await stack.client.get(f"/v1/files/{file_id}", headers=stack.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _status(stack: JobsStack, file_id: str) -> str:
    status: str = (await _file(stack, file_id))["status"]
    return status


async def _ingest_jobs(stack: JobsStack, file_id: str) -> list[dict[str, Any]]:
    jobs = (await stack.client.get("/v1/jobs?limit=100", headers=stack.headers)).json()["items"]
    return [job for job in jobs if job["kind"] == "ingest" and job["input"]["file_id"] == file_id]


async def test_event_path_makes_a_file_ready_and_ignores_a_later_post(
    events_stack: JobsStack,
) -> None:
    stack = events_stack
    upload = await start_upload(stack.client, stack.headers, size=len(CONTENT))
    file_id = upload["file_id"]
    await post_to_s3(upload["upload"], CONTENT)

    async def ready() -> bool:
        return await _status(stack, file_id) == "ready"

    await stack.wait_for(ready)
    record = await _file(stack, file_id)
    assert record["sha256"] == hashlib.sha256(CONTENT).hexdigest()
    [job] = await _ingest_jobs(stack, file_id)
    assert job["status"] == "succeeded"
    assert job["result"]["status"] == "ready"

    # Another POST under the still-valid policy: a new event, a new job, no change.
    await post_to_s3(upload["upload"], b"something else entirely")

    async def second_checked() -> bool:
        jobs = await _ingest_jobs(stack, file_id)
        return len(jobs) == 2 and all(j["status"] == "succeeded" for j in jobs)

    await stack.wait_for(second_checked)
    assert await _file(stack, file_id) == record
    s3 = s3_client(stack.queues.endpoint_url)
    assert not object_exists(s3, stack.queues.bucket, upload["upload"]["fields"]["key"])
    link = await stack.client.get(f"/v1/files/{file_id}/download", headers=stack.headers)
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(link.json()["url"])).content == CONTENT
    # The s3:TestEvent sent when notifications were configured was acknowledged, not parked.
    assert stack.queue_depth(stack.queues.jobs_queue_url) == 0
    assert stack.queue_depth(stack.queues.dead_letter_queue_url) == 0


async def test_event_time_after_the_policy_expiry_rejects(events_stack: JobsStack) -> None:
    stack = events_stack
    upload = await start_upload(stack.client, stack.headers, size=len(CONTENT))
    file_id = upload["file_id"]
    async with stack.runtime.db.side_transaction() as session:
        await session.execute(
            text("UPDATE files SET upload_expires_at = now() - interval '1 hour' WHERE id = :id"),
            {"id": file_id},
        )
    await post_to_s3(upload["upload"], CONTENT)

    async def decided() -> bool:
        return await _status(stack, file_id) != "pending"

    await stack.wait_for(decided)
    record = await _file(stack, file_id)
    assert record["status"] == "rejected"
    assert record["rejected_reason"] == "the upload arrived after its upload link had expired"


async def test_a_duplicated_event_runs_one_job(events_stack: JobsStack) -> None:
    stack = events_stack
    upload = await start_upload(stack.client, stack.headers, size=len(CONTENT))
    await post_to_s3(upload["upload"], CONTENT)
    bodies = []
    while True:
        messages = stack.sqs.receive_message(
            QueueUrl=stack.queues.jobs_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        bodies += [m["Body"] for m in messages]
        if any("Records" in body for body in bodies):
            break
    [event] = [body for body in bodies if "Records" in body]
    decisions = [await process_message(stack.runtime, body=event, receive_count=1) for _ in "ab"]
    assert [d.outcome for d in decisions] == [Outcome.DONE, Outcome.DONE]
    [job] = await _ingest_jobs(stack, upload["file_id"])
    assert job["attempts"] == 1
    assert (await _file(stack, upload["file_id"]))["status"] == "ready"


async def test_test_events_and_foreign_keys_are_acknowledged(events_stack: JobsStack) -> None:
    stack = events_stack
    bucket = stack.queues.bucket
    acknowledged = [
        json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket}),
        _event("some-other-bucket", "incoming%2F6f1c8a52-0b7e-4b0e-9c55-2f6d3e1a7b90%2Fx"),
        _event(bucket, "incoming%2Fnot-a-user%2Fnot-a-file"),
        _event(bucket, "exports%2Fsomething.csv"),
        json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete"}]}),
    ]
    for body in acknowledged:
        decision = await process_message(stack.runtime, body=body, receive_count=1)
        assert decision.outcome is Outcome.DONE, body
    assert await stack.scalar("SELECT count(*) FROM jobs") == 0
    broken = json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]})
    # A JSON object no registered source reads is as unusable as one S3 garbled.
    for body in (broken, json.dumps({"Type": "Notification", "Message": "{}"})):
        decision = await process_message(stack.runtime, body=body, receive_count=1)
        assert decision.outcome is Outcome.POISON, body


def test_event_keys_are_url_decoded() -> None:
    user, file = "6f1c8a52-0b7e-4b0e-9c55-2f6d3e1a7b90", "0b7e8c0e-6a0f-4c43-9a57-1f2d3c4b5a69"
    event = _event("b", f"incoming%2F{user}/{file}+%28copy%29")
    [record] = object_created_records(json.loads(event))
    assert record.key == f"incoming/{user}/{file} (copy)"
    assert record.version == "0062F0A3B1C2D3E4F5"
    assert record.event_time.isoformat() == "2026-11-27T10:00:00+00:00"
