"""The database goes away and comes back: a PostgreSQL cluster of this module's own is stopped
(``pg_ctl stop``, fast mode: sessions are cut) under a running app, then started again.

While it is down, /ready and every database route answer 503 problems at once (liveness stays
200, so an orchestrator does not restart healthy processes); once it is back the same app
serves again, without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.local.postgres import database_url, start_postgres
from app.main import create_app
from app.migrations import upgrade_head
from tests.conftest import assert_problem, auth_headers, make_settings

# Generous: a refused Unix socket fails in microseconds; this only rules out waiting on timeouts.
QUICK_S = 3.0


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    server = start_postgres(tmp_path_factory.mktemp("pg-outage") / "data", cleanup_mode="delete")
    server.psql("CREATE DATABASE trident;")
    url = database_url(server, "trident")
    upgrade_head(url)
    yield server, url
    server.cleanup()


@pytest.fixture
async def outage_app(
    own_postgres: tuple[Any, str], tmp_path: Path
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    _, url = own_postgres
    settings = make_settings(
        url,
        ready_timeout_s=2.0,
        db_connect_timeout_s=2.0,
        request_timeout_s=10.0,
        log_level="CRITICAL",
    )
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=30
    ) as client:
        yield app, client
    await app.state.resources.close()


async def timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def test_database_down_answers_503_fast_and_recovers_without_restart(
    own_postgres: tuple[Any, str], outage_app: tuple[Any, httpx.AsyncClient]
) -> None:
    server, _ = own_postgres
    _, client = outage_app
    headers = await auth_headers(client)
    assert (await client.get("/v1/jobs", headers=headers)).status_code == 200

    server.stop()
    try:
        ready, elapsed = await timed(client.get("/ready"))
        assert_problem(ready, 503, "not-ready")
        assert elapsed < QUICK_S
        for call in (
            client.get("/v1/jobs", headers=headers),
            client.post("/v1/jobs", json={"kind": "sleep", "input": {}}, headers=headers),
            client.post("/v1/auth/token", data={"username": "a@example.com", "password": "x"}),
        ):
            response, elapsed = await timed(call)
            assert_problem(response, 503, "database-unavailable")
            assert int(response.headers["retry-after"]) >= 1
            assert elapsed < QUICK_S
        assert (await client.get("/health")).status_code == 200
    finally:
        server.ensure_postgres_running()

    deadline = time.monotonic() + 15
    while (await client.get("/ready")).status_code != 200:
        assert time.monotonic() < deadline, "not ready again after the database came back"
        await asyncio.sleep(0.2)
    assert (await client.get("/v1/jobs", headers=headers)).status_code == 200
    created = await client.post("/v1/jobs", json={"kind": "sleep", "input": {}}, headers=headers)
    assert created.status_code == 202, created.text


async def test_connections_cut_under_the_pool_are_replaced_without_errors(
    own_postgres: tuple[Any, str], outage_app: tuple[Any, httpx.AsyncClient]
) -> None:
    """A failover or a proxy restart kills every server session; the checkout notices the dead
    pooled connections (closed, or with the server's last words unread) and the next requests
    get fresh ones: not even one error, and no ping round trip on healthy ones."""
    server, _ = own_postgres
    app, client = outage_app
    headers = await auth_headers(client)
    # Fill the pool with several idle connections.
    await asyncio.gather(*(client.get("/v1/jobs", headers=headers) for _ in range(4)))
    assert app.state.resources.db.engine.pool.checkedin() >= 1
    killed = server.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'trident-local' AND datname = 'trident';"
    )
    assert int(killed.split()[2]) >= 1, killed
    responses = await asyncio.gather(*(client.get("/v1/jobs", headers=headers) for _ in range(6)))
    assert [r.status_code for r in responses] == [200] * 6
