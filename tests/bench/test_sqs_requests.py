"""The SQS requests per job the cost model charges, held to what the consumers really call:
the container worker on a backlog, and the Lambda jobs handler (its event source's receive
and delete are AWS's, priced from the documented batching)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from app.aws import AwsClients
from bench.cost.inputs import Inputs
from deployment.settings import DeploySettings
from tests.jobs.conftest import JobsStack, stack, stack_factory  # noqa: F401  (shared fixtures)
from tests.jobs.test_workers import _invoke_lambda, _record, _settings_env

JOBS = 30


def count_sqs_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """SQS operations of every client the app builds from now on; a ReceiveMessage that
    brought messages counts as ``ReceiveMessage``, an empty one as ``EmptyReceive``."""
    calls: Counter[str] = Counter()
    original = AwsClients._client

    def on_answer(*, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        empty = model.name == "ReceiveMessage" and not parsed.get("Messages")
        calls["EmptyReceive" if empty else model.name] += 1

    def counted(self: AwsClients, service: str, *, read_timeout: float) -> Any:
        client = original(self, service, read_timeout=read_timeout)
        client.meta.events.register("after-call.sqs", on_answer, unique_id="sqs-counter")
        return client

    monkeypatch.setattr(AwsClients, "_client", counted)
    return calls


async def test_the_container_worker_makes_the_requests_per_job_the_model_charges(
    stack_factory: Callable[..., Awaitable[JobsStack]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Long enough that no message reappears mid-run and is received twice.
    jobs_stack = await stack_factory(jobs_visibility_timeout_s=30)
    calls = count_sqs_calls(monkeypatch)
    assert jobs_stack.runtime.settings.jobs.worker_concurrency == Inputs().worker_concurrency
    for _ in range(JOBS):
        await jobs_stack.submit("sleep", {"seconds": 0})

    async def all_done() -> bool:
        done = await jobs_stack.scalar("SELECT count(*) FROM jobs WHERE status = 'succeeded'")
        return bool(done == JOBS)

    await jobs_stack.wait_for(all_done)
    # One DeleteMessage per message, never a batch: what the model prices.
    assert calls["SendMessage"] == calls["DeleteMessage"] == JOBS
    assert calls["DeleteMessageBatch"] == 0, calls
    per_job = (calls["SendMessage"] + calls["ReceiveMessage"] + calls["DeleteMessage"]) / JOBS
    # 2 + 1 / (4 + 1): the first receive asks for 8, each later one for 5 as a slot frees.
    assert per_job == pytest.approx(Inputs().sqs_per_job("fargate"), abs=0.05)


async def test_the_lambda_jobs_handler_leaves_receive_and_delete_to_the_event_source(
    stack: JobsStack,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = count_sqs_calls(monkeypatch)
    job_ids = [await stack.submit("sleep", {"seconds": 0}) for _ in range(3)]
    assert calls == {"SendMessage": 3}  # the API's, counted
    stack.sqs.purge_queue(QueueUrl=stack.queues.jobs_queue_url)  # the event carries them
    event = {"Records": [_record(json.dumps({"job_id": job_id})) for job_id in job_ids]}
    assert _invoke_lambda(_settings_env(stack), event) == {"batchItemFailures": []}
    assert [await stack.status(job_id) for job_id in job_ids] == ["succeeded"] * 3
    # No SQS call of its own: per job the account pays the send, and per batch the event
    # source's one receive and one delete.
    assert calls == {"SendMessage": 3}
    assert Inputs().sqs_per_job("lambda") == pytest.approx(1 + 2 / DeploySettings().jobs_batch_size)
