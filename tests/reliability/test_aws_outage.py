"""S3 and SQS go away mid-run and come back: retries, the circuit breaker, and no lost work.

A moto server of this module's own sits behind a fault proxy (tests/reliability/faults.py).
Outage: moto is stopped and the proxy hangs every connection (a dead host: calls time out
rather than being refused). The app retries each call (botocore standard mode), answers 503
``aws-unavailable``, and after AWS_BREAKER_FAILURES such calls fails fast without touching the
network; once moto is back a single probe closes the breaker. Accepted jobs are committed before
SendMessage, so the sweep sends the ones SQS never got, and each runs exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.aws import AwsUnavailable, CircuitBreaker
from app.jobs.runtime import JobRuntime
from app.jobs.worker import Worker
from app.local.aws import free_port, provision, start_moto
from app.main import create_app
from app.resources import Resources
from tests.conftest import assert_problem, auth_headers, make_settings
from tests.files.conftest import post_to_s3, start_upload
from tests.reliability.faults import FaultProxy

BREAKER_FAILURES = 2
BREAKER_RESET_S = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _outage() -> Exception:
    from botocore.exceptions import EndpointConnectionError

    error: Exception = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    return error


def state(breaker: CircuitBreaker) -> str:
    return breaker.state  # read fresh each time (mypy would narrow the property)


class _Answer:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def test_breaker_opens_after_consecutive_outages_and_one_probe_closes_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker("S3", failures=3, reset_s=10, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker._on_after_call_error(exception=_outage())
    breaker.before_call()
    breaker._on_after_call(http_response=_Answer(404))  # an answer, even an error, resets
    for _ in range(3):
        breaker.before_call()
        breaker._on_after_call_error(exception=_outage())
    assert state(breaker) == "open"

    clock.now += 4
    with pytest.raises(AwsUnavailable) as refused:
        breaker.before_call()
    assert refused.value.status == 503
    assert refused.value.headers == {"Retry-After": "6"}

    clock.now += 6
    breaker.before_call()  # the probe
    assert state(breaker) == "half-open"
    with pytest.raises(AwsUnavailable) as waiting:
        breaker.before_call()  # only one probe at a time
    assert waiting.value.headers == {"Retry-After": "1"}
    breaker._on_after_call_error(exception=_outage())  # probe failed: open again, full period
    assert state(breaker) == "open"
    clock.now += 9.5
    with pytest.raises(AwsUnavailable):
        breaker.before_call()

    clock.now += 1
    breaker.before_call()
    breaker._on_after_call(http_response=_Answer(200))
    assert state(breaker) == "closed"
    breaker.before_call()


def test_breaker_ignores_what_is_not_an_outage() -> None:
    clock = Clock()
    breaker = CircuitBreaker("SQS", failures=1, reset_s=5, clock=clock)
    breaker._on_after_call_error(exception=ValueError("signing failed"))
    breaker._on_after_call(http_response=_Answer(503))  # answered, but unwell: no verdict
    assert state(breaker) == "closed"
    breaker._on_after_call_error(exception=_outage())
    assert state(breaker) == "open"
    clock.now += 5
    breaker.before_call()
    breaker._on_after_call_error(exception=ValueError("not about reachability"))
    breaker.before_call()  # the probe slot was freed for the next caller
    assert state(breaker) == "half-open"


@dataclass
class Outage:
    app: Any
    client: httpx.AsyncClient
    runtime: JobRuntime
    proxy: FaultProxy
    moto_port: int
    moto: Any

    def stop_aws(self) -> None:
        self.moto.stop()
        self.proxy.hang()

    def restore_aws(self) -> None:
        self.moto = start_moto(self.moto_port)
        self.proxy.forward()

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.runtime.db.sessions() as session:
            return await session.scalar(text(sql), params)


@pytest.fixture(scope="module")
def own_moto() -> Iterator[tuple[int, list[Any]]]:
    port = free_port()
    servers = [start_moto(port)]
    yield port, servers
    for server in servers:
        server.stop()


@pytest.fixture
async def outage(
    clone_database: Callable[[], str], tmp_path: Path, own_moto: tuple[int, list[Any]]
) -> AsyncIterator[Outage]:
    port, servers = own_moto
    proxy = FaultProxy(port)
    suffix = uuid.uuid4().hex[:8]
    aws = provision(
        f"http://127.0.0.1:{port}",
        region="us-east-1",
        bucket=f"outage-{suffix}",
        queue=f"outage-{suffix}",
        visibility_timeout_s=5,
        upload_events=False,
    )
    settings = make_settings(
        clone_database(),
        aws_endpoint_url=proxy.url,
        s3_bucket=aws.bucket,
        jobs_queue_url=aws.jobs_queue_url.replace(str(port), str(proxy.port)),
        jobs_dlq_url=aws.dead_letter_queue_url.replace(str(port), str(proxy.port)),
        aws_connect_timeout_s=0.25,
        aws_read_timeout_s=0.25,
        aws_max_attempts=2,
        aws_breaker_failures=BREAKER_FAILURES,
        aws_breaker_reset_s=BREAKER_RESET_S,
        jobs_sweep_after_s=1,
        request_timeout_s=20,
        log_level="CRITICAL",
    )
    runtime = JobRuntime.from_settings(settings)
    app = create_app(settings, resources=Resources(settings, db=runtime.db))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    state = Outage(app, client, runtime, proxy, port, servers[-1])
    yield state
    await client.aclose()
    await runtime.close()
    proxy.close()
    servers.append(state.moto)


async def test_aws_outage_fails_fast_then_recovers_and_loses_no_job(outage: Outage) -> None:
    client = outage.client
    headers = await auth_headers(client)

    async def submit() -> tuple[str, float]:
        started = time.monotonic()
        response = await client.post(
            "/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}}, headers=headers
        )
        # Accepted whatever SQS does: the row is committed before SendMessage.
        assert response.status_code == 202, response.text
        return response.json()["job_id"], time.monotonic() - started

    async def complete(file_id: str) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = await client.post(f"/v1/files/{file_id}/complete", headers=headers)
        return response, time.monotonic() - started

    sent_before, _ = await submit()
    upload = await start_upload(client, headers, size=11)
    await post_to_s3(upload["upload"], b"hello world")
    file_id = upload["file_id"]

    outage.stop_aws()
    # S3: each call times out on every attempt, then answers 503.
    connections = outage.proxy.accepted
    for _ in range(BREAKER_FAILURES):
        response, _ = await complete(file_id)
        assert_problem(response, 503, "aws-unavailable")
    retried = outage.proxy.accepted - connections
    assert retried >= 2 * BREAKER_FAILURES, "each failed call should have been retried"
    # Open: refused at once, without a connection attempt.
    connections = outage.proxy.accepted
    response, elapsed = await complete(file_id)
    problem = assert_problem(response, 503, "aws-unavailable")
    assert "S3" in problem["detail"]
    assert 1 <= int(response.headers["retry-after"]) <= BREAKER_RESET_S + 1
    assert elapsed < 0.5
    assert outage.proxy.accepted == connections
    # The upload record is untouched by the failed checks.
    record = await client.get(f"/v1/files/{file_id}", headers=headers)
    assert record.json()["status"] == "pending"

    # SQS: submissions keep being accepted; once its breaker opens they stop waiting on it.
    unsent = [(await submit())[0] for _ in range(BREAKER_FAILURES)]
    connections = outage.proxy.accepted
    job_id, elapsed = await submit()
    unsent.append(job_id)
    assert elapsed < 0.5
    assert outage.proxy.accepted == connections
    never_sent = await outage.scalar(
        "SELECT count(*) FROM jobs WHERE sent_at IS NULL AND status = 'queued'"
    )
    assert never_sent == len(unsent)

    outage.restore_aws()
    await asyncio.sleep(BREAKER_RESET_S)
    response, _ = await complete(file_id)  # the half-open probe
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"
    assert outage.app.state.resources.aws.breakers["s3"].state == "closed"

    # The worker's sweep sends what SQS never got; every job runs, once.
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(outage.runtime, wait_s=1).run(stop))
    deadline = time.monotonic() + 30
    try:
        while await outage.scalar("SELECT count(*) FROM jobs WHERE status <> 'succeeded'"):
            assert time.monotonic() < deadline, "jobs not all done after AWS came back"
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await worker
    for job_id in [sent_before, *unsent]:
        job = (await client.get(f"/v1/jobs/{job_id}", headers=headers)).json()
        assert (job["status"], job["attempts"]) == ("succeeded", 1)
    # The app's own SQS breaker closes on its next successful call.
    await asyncio.sleep(BREAKER_RESET_S)
    await submit()
    assert outage.app.state.resources.aws.breakers["sqs"].state == "closed"
