"""Shared pieces for the reliability suite: real servers on loopback, and the fuzz switch.

``make test`` runs the fast, bounded versions; ``make fuzz`` sets TRIDENT_FUZZ=1, which scales
example counts, bursts and load up (``scaled(fast, fuzz)``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.local.aws import LocalAws, free_port
from app.main import create_app
from tests.conftest import PASSWORD, ServerProcess, make_settings, server_env

FUZZ = os.environ.get("TRIDENT_FUZZ") == "1"


def scaled(fast: int, fuzz: int) -> int:
    return fuzz if FUZZ else fast


def aws_env(aws: LocalAws) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "S3_BUCKET": aws.bucket,
        "JOBS_QUEUE_URL": aws.jobs_queue_url,
        "JOBS_DLQ_URL": aws.dead_letter_queue_url,
    }


@pytest.fixture(scope="module")
def start_server(
    clone_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory, queues: LocalAws
) -> Iterator[Callable[..., ServerProcess]]:
    """Uvicorn with our app on a database of its own (stopped at the end of the module)."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        folder = tmp_path_factory.mktemp("server")
        values = server_env(
            clone_database(),
            folder / "data",
            REGISTER_MAX_PER_WINDOW="100000",
            **{**aws_env(queues), **env},
        )
        server = ServerProcess(values, free_port(), folder / "server.log")
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


CommittedApp = tuple[Any, httpx.AsyncClient]


@pytest.fixture
async def committed_app(
    clone_database: Callable[[], str], tmp_path: Path, queues: LocalAws
) -> AsyncIterator[Callable[..., Awaitable[CommittedApp]]]:
    """In-process apps with a real engine on a database of their own: requests commit and
    run concurrently, as in production (the shared ``client`` fixture serialises them)."""
    made: list[Any] = []

    async def make(**overrides: Any) -> CommittedApp:
        values: dict[str, Any] = {
            "aws_endpoint_url": queues.endpoint_url,
            "s3_bucket": queues.bucket,
            "jobs_queue_url": queues.jobs_queue_url,
            "log_level": "CRITICAL",
            **overrides,
        }
        url = values.pop("database_url", None) or clone_database()
        settings = make_settings(url, **values)
        app = create_app(settings)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=30
        )
        made.append((app, client))
        return app, client

    yield make
    for app, client in made:
        await client.aclose()
        await app.state.resources.close()


def bearer_for(base_url: str) -> dict[str, str]:
    """Register a fresh user on a running server and return its Authorization header."""
    email = f"rel-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=base_url, timeout=10) as client:
        created = client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        token = client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert token.status_code == 200, token.text
    body: dict[str, Any] = token.json()
    return {"Authorization": f"Bearer {body['access_token']}"}


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
