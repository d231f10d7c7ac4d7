"""Delivery guarantees on the real local stack: PostgreSQL, moto's SQS, in-process workers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import text

from app.jobs import dlq, service
from app.jobs.runner import Outcome, process_message, sweep
from tests.conftest import assert_problem
from tests.jobs.conftest import JobsStack


async def test_happy_path(stack: JobsStack) -> None:
    job_id = await stack.submit("sleep", {"seconds": 0.1})
    job = await stack.until_status(job_id, "succeeded")
    assert job["attempts"] == 1
    assert job["result"] == {"slept": 0.1, "attempt": 1}
    assert job["error"] is None
    assert job["started_at"] is not None
    assert job["finished_at"] >= job["started_at"]
    assert stack.queue_depth(stack.queues.jobs_queue_url) == 0


async def test_a_worker_without_its_domains_leaves_the_message_alone(
    stack: JobsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not composed, every kind would look unknown and its job be marked dead: the runner
    refuses instead, so the message comes back and the job stays queued."""
    from app.jobs.registry import registry

    job_id = await stack.submit("sleep", {"seconds": 0})
    monkeypatch.setattr(registry, "composed", False)
    with pytest.raises(RuntimeError, match="compose"):
        await process_message(stack.runtime, body=json.dumps({"job_id": job_id}), receive_count=1)
    assert await stack.status(job_id) == "queued"


async def test_duplicate_delivery_has_one_effect(stack: JobsStack) -> None:
    job_id = await stack.submit("sleep", {"seconds": 0.5})
    # SQS is at-least-once: the same job named by three messages, two workers racing.
    for _ in range(2):
        stack.sqs.send_message(
            QueueUrl=stack.queues.jobs_queue_url, MessageBody=json.dumps({"job_id": job_id})
        )

    async def all_consumed() -> bool:
        return (
            await stack.status(job_id) == "succeeded"
            and stack.queue_depth(stack.queues.jobs_queue_url) == 0
        )

    await stack.wait_for(all_consumed, workers=2)
    job = await stack.job(job_id)
    assert job["attempts"] == 1
    assert job["result"]["attempt"] == 1


async def test_racing_claims_give_one_winner(stack: JobsStack) -> None:
    # Long enough that every racer arrives while the winner still holds the lease.
    job_id = await stack.submit("sleep", {"seconds": 2})
    body = json.dumps({"job_id": job_id})
    decisions = await asyncio.gather(
        *[process_message(stack.runtime, body=body, receive_count=1) for _ in range(4)]
    )
    outcomes = [decision.outcome for decision in decisions]
    assert sorted(outcomes) == sorted([Outcome.DONE] + [Outcome.BUSY] * 3)
    # Losers hide their copy until the winner's lease would lapse.
    assert all(0 < d.hide_for_s <= 6 for d in decisions if d.outcome is Outcome.BUSY)
    assert (await stack.job(job_id))["attempts"] == 1
    # Once finished, late duplicates are simply acknowledged.
    late = await process_message(stack.runtime, body=body, receive_count=1)
    assert late.outcome is Outcome.DONE


async def test_flaky_job_is_retried_then_succeeds(stack: JobsStack) -> None:
    job_id = await stack.submit("flaky", {"fail_times": 2})
    job = await stack.until_status(job_id, "succeeded")
    assert job["attempts"] == 3
    assert job["result"] == {"succeeded_on_attempt": 3}
    assert job["error"] is None


async def test_always_failing_job_goes_dead_and_others_still_run(stack: JobsStack) -> None:
    doomed = await stack.submit("fail", {"message": "boom"})
    fine = await stack.submit("sleep", {"seconds": 0})
    job = await stack.until_status(doomed, "dead")
    assert job["attempts"] == 3  # jobs_max_receive_count
    assert job["error"] == "RuntimeError: boom"
    assert await stack.status(fine) == "succeeded"

    async def in_dlq() -> bool:
        return stack.queue_depth(stack.queues.dead_letter_queue_url) == 1

    # SQS moves the message on its next receive after the last allowed one.
    await stack.wait_for(in_dlq)
    assert stack.queue_depth(stack.queues.jobs_queue_url) == 0


async def test_permanent_failure_is_not_retried(stack: JobsStack) -> None:
    job_id = await stack.submit("fail", {"message": "bad input", "permanent": True})
    job = await stack.until_status(job_id, "failed")
    assert job["attempts"] == 1
    assert job["error"] == "PermanentJobError: bad input"


@pytest.mark.parametrize(
    "body", ["{not json", json.dumps({"job_id": "3b0e2d9c-1111-4a4a-9f9f-000000000000"})]
)
async def test_poison_message_is_parked_without_blocking(stack_factory: Any, body: str) -> None:
    # Redelivery plays no part here: a long visibility timeout keeps a slow (busy) machine from
    # seeing the message twice before its delete lands, and parking it twice.
    stack: JobsStack = await stack_factory(jobs_visibility_timeout_s=10)
    stack.sqs.send_message(QueueUrl=stack.queues.jobs_queue_url, MessageBody=body)
    job_id = await stack.submit("sleep", {"seconds": 0})

    async def done() -> bool:
        return (
            await stack.status(job_id) == "succeeded"
            and stack.queue_depth(stack.queues.dead_letter_queue_url) == 1
        )

    await stack.wait_for(done)
    parked = stack.sqs.receive_message(QueueUrl=stack.queues.dead_letter_queue_url)["Messages"]
    assert parked[0]["Body"] == body
    assert stack.queue_depth(stack.queues.jobs_queue_url) == 0


async def test_sweep_repairs_a_crash_between_commit_and_send(
    stack_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack: JobsStack = await stack_factory(jobs_sweep_after_s=60)

    async def crash_before_send(**kwargs: Any) -> None:
        return None  # the process "died" after COMMIT, before SendMessage

    monkeypatch.setattr(service, "send", crash_before_send)
    job_id = await stack.submit("sleep", {"seconds": 0})
    monkeypatch.undo()
    assert stack.queue_depth(stack.queues.jobs_queue_url) == 0
    assert await stack.scalar("SELECT sent_at FROM jobs WHERE id = :id", id=job_id) is None

    assert await sweep(stack.runtime) == 0  # too young: it may still be on its way
    async with stack.runtime.db.sessions() as session, session.begin():
        # Age the row rather than wait, so a slow machine cannot make it old too soon.
        await session.execute(
            text("UPDATE jobs SET updated_at = now() - interval '61 seconds' WHERE id = :id"),
            {"id": job_id},
        )
    assert await sweep(stack.runtime) == 1
    assert await sweep(stack.runtime) == 0  # swept jobs are not re-sent at once
    job = await stack.until_status(job_id, "succeeded")
    assert job["attempts"] == 1


async def test_send_failure_still_accepts_the_job(
    stack_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack: JobsStack = await stack_factory(
        jobs_queue_url="http://127.0.0.1:1/queue/missing",
        aws_max_attempts=1,
        aws_connect_timeout_s=0.5,
    )
    response = await stack.client.post(
        "/v1/jobs", json={"kind": "sleep", "input": {}}, headers=stack.headers
    )
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    job_id = response.json()["job_id"]
    assert await stack.scalar("SELECT sent_at FROM jobs WHERE id = :id", id=job_id) is None


async def test_dlq_check_marks_jobs_whose_message_was_moved(stack: JobsStack) -> None:
    job_id = await stack.submit("sleep", {"seconds": 0})
    # Simulate SQS moving the message while no worker recorded it (e.g. a worker crash on
    # the last attempt): the message is in the DLQ and the job still says queued.
    stack.sqs.purge_queue(QueueUrl=stack.queues.jobs_queue_url)
    stack.sqs.send_message(
        QueueUrl=stack.queues.dead_letter_queue_url, MessageBody=json.dumps({"job_id": job_id})
    )
    report = await dlq.check(stack.runtime)
    assert (report.messages, report.jobs) == (1, 1)
    job = await stack.job(job_id)
    assert job["status"] == "dead"
    assert job["error"] == dlq.DEAD_LETTERED
    assert stack.queue_depth(stack.queues.dead_letter_queue_url) == 1  # kept for redrive


async def test_redrive_and_retry_bring_dead_jobs_back(stack: JobsStack) -> None:
    # Fails its first 3 attempts (= max receive count), so it dies; the 4th succeeds.
    first = await stack.submit("flaky", {"fail_times": 3})
    second = await stack.submit("flaky", {"fail_times": 3})
    for job_id in (first, second):
        await stack.until_status(job_id, "dead")

    async def both_in_dlq() -> bool:
        return stack.queue_depth(stack.queues.dead_letter_queue_url) == 2

    await stack.wait_for(both_in_dlq)

    # /retry for one, the redrive command for the other.
    retried = await stack.client.post(f"/v1/jobs/{first}/retry", headers=stack.headers)
    assert retried.status_code == 202
    assert retried.json()["status"] == "queued"
    report = await dlq.redrive(stack.runtime)
    assert report.messages == 2
    for job_id in (first, second):
        job = await stack.until_status(job_id, "succeeded")
        assert job["result"] == {"succeeded_on_attempt": 4}
    assert stack.queue_depth(stack.queues.dead_letter_queue_url) == 0
    again = await stack.client.post(f"/v1/jobs/{first}/retry", headers=stack.headers)
    assert_problem(again, 409, "job-not-retryable")
