"""The two runtimes around the job core: the Lambda SQS handler and the container worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import handlers
import handlers.jobs
from app.observability import REDACTED
from tests.conftest import REPO
from tests.files.conftest import insert_file, insert_user
from tests.handlers.conftest import FakeContext
from tests.jobs.conftest import JobsStack
from tests.test_logging import PASSWORD_SENTINEL, log_entries

TOKEN_SENTINEL = "Sentinel-T0ken-XYZ"


def _record(body: str, *, receive_count: int = 1, message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"rh-{uuid.uuid4()}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1795770000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1795770000001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:trident-jobs",
        "awsRegion": "us-east-1",
    }


def _settings_env(stack: JobsStack, **extra: str) -> dict[str, str]:
    settings = stack.runtime.settings
    env = {
        "TARGET": "local",
        "DATABASE_URL": settings.db.require_url(),
        "AWS_ENDPOINT_URL": settings.aws.endpoint_url or "",
        "JOBS_QUEUE_URL": settings.jobs.require_queue_url(),
        "JOBS_DLQ_URL": settings.jobs.require_dlq_url(),
        "JOBS_MAX_RECEIVE_COUNT": str(settings.jobs.max_receive_count),
        "JOBS_LEASE_S": str(settings.jobs.lease_s),
        "JOBS_VISIBILITY_TIMEOUT_S": str(settings.jobs.visibility_timeout_s),
        "JOBS_SWEEP_INTERVAL_S": "3600",
        # A stopping worker waits for its open long poll; keep that short here.
        "WORKER_POLL_WAIT_S": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def _invoke_lambda(
    env: dict[str, str], event: dict[str, Any], entry: str = "handler", context: Any = None
) -> dict[str, Any]:
    """Run the handler the way Lambda does: on a thread with no running event loop."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:

        def call() -> dict[str, Any]:
            handlers.jobs._environment = None
            try:
                result: dict[str, Any] = getattr(handlers.jobs, entry)(event, context)
                return result
            finally:
                environment = handlers.jobs._environment
                if environment is not None:
                    environment.loop.run_until_complete(environment.runtime.close())
                    environment.loop.close()
                handlers.jobs._environment = None

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(call).result(timeout=60)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def test_lambda_batch_reports_only_the_failed_message(stack: JobsStack) -> None:
    ok = await stack.submit("sleep", {"seconds": 0})
    failing = await stack.submit("fail", {"message": "nope"})
    last_try = await stack.submit("fail", {"message": "last"})
    stack.sqs.purge_queue(QueueUrl=stack.queues.jobs_queue_url)  # the event carries them
    failing_id = "msg-failing"
    last_id = "msg-last"
    event = {
        "Records": [
            _record(json.dumps({"job_id": ok})),
            _record(json.dumps({"job_id": failing}), message_id=failing_id),
            _record("{poison", message_id="msg-poison"),
            _record(json.dumps({"job_id": last_try}), receive_count=3, message_id=last_id),
        ]
    }
    response = _invoke_lambda(_settings_env(stack), event)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": failing_id}, {"itemIdentifier": last_id}]
    }
    assert (await stack.job(ok))["status"] == "succeeded"
    failed_once = await stack.job(failing)
    assert (failed_once["status"], failed_once["error"]) == ("queued", "RuntimeError: nope")
    # The last allowed attempt records "dead" itself: SQS will move it without telling anyone.
    assert (await stack.job(last_try))["status"] == "dead"
    parked = stack.sqs.receive_message(QueueUrl=stack.queues.dead_letter_queue_url)["Messages"]
    assert [m["Body"] for m in parked] == ["{poison"]


async def test_lambda_lines_are_one_json_shape_naming_the_invocation(
    stack: JobsStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = await stack.submit("fail", {"message": f"token={TOKEN_SENTINEL}"})
    stack.sqs.purge_queue(QueueUrl=stack.queues.jobs_queue_url)  # the event carries it
    poison = json.dumps({"password": PASSWORD_SENTINEL})[:-1]  # cut short: not JSON
    event = {"Records": [_record(json.dumps({"job_id": failing})), _record(poison)]}
    monkeypatch.setattr(handlers, "_cold", True)  # as in a new execution environment
    capsys.readouterr()  # the function's lines only
    env = _settings_env(
        stack, TARGET="lambda", DIAGNOSTIC_JOBS="true", LOG_LEVEL="DEBUG", SQL_ECHO="true"
    )
    response = _invoke_lambda(env, event, context=FakeContext())
    assert len(response["batchItemFailures"]) == 1  # the failed job comes back

    secrets = {"password": PASSWORD_SENTINEL, "token": TOKEN_SENTINEL}
    entries = log_entries(capsys.readouterr().err, secrets)
    assert {(e["function_request_id"], e["function_name"], e["cold_start"]) for e in entries} == {
        (FakeContext.aws_request_id, FakeContext.function_name, True)
    }
    by_message = {entry["msg"]: entry for entry in entries}
    assert by_message["poison message"]["body_prefix"] == '{"password": [REDACTED]'
    assert f"RuntimeError: token={REDACTED}" in by_message["job attempt failed"]["exc"]


def _start_worker(stack: JobsStack, tmp_path: Path, **extra: str) -> subprocess.Popen[bytes]:
    with (tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "app.worker"],
            cwd=REPO,
            env={**os.environ, **_settings_env(stack, **extra)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _worker_log(tmp_path: Path) -> str:
    (log,) = tmp_path.glob("worker-*.log")
    return log.read_text()


async def _wait_running(
    stack: JobsStack, job_id: str, within_s: float = 30, status: str = "running"
) -> None:
    import asyncio

    deadline = time.monotonic() + within_s
    while await stack.status(job_id) != status:
        assert time.monotonic() < deadline, f"job never {status}"
        await asyncio.sleep(0.05)


@pytest.mark.subprocess
async def test_worker_lines_are_one_json_shape_without_secrets(
    stack: JobsStack, tmp_path: Path
) -> None:
    job_id = await stack.submit("fail", {"message": f"token={TOKEN_SENTINEL}", "permanent": True})
    worker = _start_worker(stack, tmp_path, LOG_LEVEL="DEBUG", SQL_ECHO="true")
    try:
        await _wait_running(stack, job_id, status="failed")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        worker.kill()
    entries = log_entries(_worker_log(tmp_path), {"token": TOKEN_SENTINEL})
    messages = [entry["msg"] for entry in entries]
    assert messages.index("worker started") < messages.index("worker stopped")
    (failed,) = [entry for entry in entries if entry["msg"] == "job failed permanently"]
    assert failed["error"] == f"PermanentJobError: token={REDACTED}"


async def _sigterm_while_sleeping(
    stack: JobsStack, tmp_path: Path, *, sleep_s: float, grace_s: str
) -> str:
    """A worker stopped by SIGTERM while a ``sleep`` job runs; it must exit 0. The job's id."""
    job_id = await stack.submit("sleep", {"seconds": sleep_s})
    worker = _start_worker(stack, tmp_path, WORKER_SHUTDOWN_GRACE_S=grace_s)
    try:
        await _wait_running(stack, job_id)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        worker.kill()
    return job_id


@pytest.mark.subprocess
async def test_sigterm_lets_the_running_job_finish(stack: JobsStack, tmp_path: Path) -> None:
    job_id = await _sigterm_while_sleeping(stack, tmp_path, sleep_s=1.5, grace_s="20")
    job = await stack.job(job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 1)
    assert stack.queue_depth(stack.queues.jobs_queue_url) == 0


@pytest.mark.subprocess
async def test_sigterm_past_the_grace_hands_the_job_back(stack: JobsStack, tmp_path: Path) -> None:
    job_id = await _sigterm_while_sleeping(stack, tmp_path, sleep_s=3, grace_s="0.3")
    handed_back = await stack.job(job_id)
    assert (handed_back["status"], handed_back["error"]) == ("queued", "worker stopped")
    job = await stack.until_status(job_id, "succeeded")
    assert job["attempts"] == 2
    assert job["result"]["attempt"] == 2


@pytest.mark.subprocess
async def test_sigkill_mid_job_is_finished_by_redelivery(
    stack_factory: Any, tmp_path: Path
) -> None:
    # Headroom for receives a loaded machine adds while the fresh process starts up
    # (the test queue's visibility timeout is only 1 s).
    stack: JobsStack = await stack_factory(jobs_max_receive_count=6)
    job_id = await stack.submit("sleep", {"seconds": 2})
    worker = _start_worker(stack, tmp_path)
    try:
        await _wait_running(stack, job_id)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        worker.kill()
    assert await stack.status(job_id) == "running"  # leased by a dead worker
    job = await stack.until_status(job_id, "succeeded", within_s=40)
    assert job["attempts"] == 2
    assert stack.queue_depth(stack.queues.jobs_queue_url) == 0


async def test_lambda_housekeeping_expires_abandoned_uploads(stack: JobsStack) -> None:
    user = await insert_user(stack.runtime.db)
    abandoned = await insert_file(stack.runtime.db, user, age_s=2 * 24 * 3600)
    fresh = await insert_file(stack.runtime.db, user)

    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event"}
    env = _settings_env(stack, S3_BUCKET=stack.runtime.settings.files.bucket or "")
    result = _invoke_lambda(env, scheduled, "housekeeping")
    assert result["tasks"]["files-cleanup"]["expired"] == 1
    statuses = {
        file_id: await stack.scalar("SELECT status FROM files WHERE id = :id", id=file_id)
        for file_id in (abandoned, fresh)
    }
    assert statuses == {abandoned: "rejected", fresh: "pending"}
