"""A jobs stack with real commits: its own database and queues, the API and workers in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from sqlalchemy import text

from app.jobs.runtime import JobRuntime
from app.jobs.worker import Worker
from app.local.aws import LocalAws
from app.main import create_app
from app.resources import Resources
from tests.conftest import auth_headers, make_settings


@dataclass
class JobsStack:
    runtime: JobRuntime
    client: httpx.AsyncClient
    queues: LocalAws
    headers: dict[str, str]

    @property
    def sqs(self) -> Any:
        return boto3.client("sqs", endpoint_url=self.queues.endpoint_url, region_name="us-east-1")

    async def submit(self, kind: str, job_input: dict[str, Any] | None = None) -> str:
        response = await self.client.post(
            "/v1/jobs", json={"kind": kind, "input": job_input or {}}, headers=self.headers
        )
        assert response.status_code == 202, response.text
        job_id: str = response.json()["job_id"]
        return job_id

    async def job(self, job_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/jobs/{job_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def status(self, job_id: str) -> str:
        status: str = (await self.job(job_id))["status"]
        return status

    async def wait_for(
        self, predicate: Callable[[], Awaitable[bool]], *, within_s: float = 30, workers: int = 1
    ) -> None:
        """Run workers until ``predicate`` holds (fails the test after ``within_s``)."""
        stop = asyncio.Event()
        runs = [
            asyncio.create_task(Worker(self.runtime, wait_s=1).run(stop)) for _ in range(workers)
        ]
        deadline = time.monotonic() + within_s
        try:
            while not await predicate():
                assert time.monotonic() < deadline, "condition not reached in time"
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.gather(*runs)

    async def until_status(
        self, job_id: str, *statuses: str, within_s: float = 30
    ) -> dict[str, Any]:
        async def reached() -> bool:
            return await self.status(job_id) in statuses

        await self.wait_for(reached, within_s=within_s)
        return await self.job(job_id)

    def queue_depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.runtime.db.sessions() as session:
            return await session.scalar(text(sql), params)


@pytest.fixture
async def stack_factory(
    clone_database: Callable[[], str], make_queues: Callable[..., LocalAws], tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[JobsStack]]]:
    created: list[JobsStack] = []

    async def make(**overrides: Any) -> JobsStack:
        queues = make_queues(
            max_receive_count=overrides.get("jobs_max_receive_count", 3),
            visibility_timeout_s=overrides.get("jobs_visibility_timeout_s", 1),
        )
        values: dict[str, Any] = {
            "aws_endpoint_url": queues.endpoint_url,
            "s3_bucket": queues.bucket,
            "jobs_queue_url": queues.jobs_queue_url,
            "jobs_dlq_url": queues.dead_letter_queue_url,
            "jobs_max_receive_count": 3,
            "jobs_lease_s": 5,
            "jobs_visibility_timeout_s": 1,
            "jobs_sweep_interval_s": 3600,
            "log_level": "WARNING",
        }
        url = overrides.pop("database_url", None) or clone_database()
        settings = make_settings(url, **{**values, **overrides})
        runtime = JobRuntime.from_settings(settings)
        app = create_app(settings, resources=Resources(settings, db=runtime.db))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        stack = JobsStack(runtime=runtime, client=client, queues=queues, headers={})
        stack.headers = await auth_headers(client)
        created.append(stack)
        return stack

    yield make
    for made in created:
        await made.client.aclose()
        await made.runtime.close()


@pytest.fixture
async def stack(stack_factory: Callable[..., Awaitable[JobsStack]]) -> JobsStack:
    return await stack_factory()
