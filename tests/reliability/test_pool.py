"""Connection-pool exhaustion: more concurrent database users than pool + overflow.

The app runs in-process on a database of its own with a real engine (pool 2 + overflow 1).
A request that cannot get a connection within DB_POOL_TIMEOUT_S answers 503 ``database-busy``
with Retry-After; none waits past the request timeout; the pool is whole afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import PASSWORD, assert_problem, auth_headers
from tests.reliability.conftest import CommittedApp, scaled

POOL, OVERFLOW = 2, 1
POOL_TIMEOUT_S = 0.5
BURST_POOL_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 5.0
# A small pool to exhaust, and limits no test here should run into.
SMALL_POOL = {
    "db_pool_size": POOL,
    "db_max_overflow": OVERFLOW,
    "request_timeout_s": REQUEST_TIMEOUT_S,
    "login_max_failures": 100_000,
    "files_presign_max_per_window": 100_000,
}


@pytest.fixture
async def pool_app(committed_app: Callable[..., Awaitable[CommittedApp]]) -> CommittedApp:
    return await committed_app(**SMALL_POOL, db_pool_timeout_s=POOL_TIMEOUT_S, ready_timeout_s=2.0)


async def timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def test_exhausted_pool_answers_503_after_pool_timeout_then_recovers(
    pool_app: CommittedApp,
) -> None:
    app, client = pool_app
    headers = await auth_headers(client)
    engine = app.state.resources.db.engine
    async with AsyncExitStack() as held:
        # Every connection the pool may hand out, checked out and kept busy.
        for _ in range(POOL + OVERFLOW):
            await held.enter_async_context(engine.connect())
        results = await asyncio.gather(
            *(timed(client.get("/v1/jobs", headers=headers)) for _ in range(6)),
            timed(client.get("/ready")),
        )
    for response, elapsed in results[:-1]:
        assert_problem(response, 503, "database-busy")
        assert int(response.headers["retry-after"]) >= 1
        # It waited for a connection (pool_timeout), then gave up well before the request timeout.
        assert POOL_TIMEOUT_S * 0.8 <= elapsed < REQUEST_TIMEOUT_S
    ready, elapsed = results[-1]
    assert_problem(ready, 503, "not-ready")
    assert elapsed < REQUEST_TIMEOUT_S
    # Connections handed back: the same requests succeed, and nothing leaked.
    assert (await client.get("/v1/jobs", headers=headers)).status_code == 200
    assert engine.pool.checkedout() == 0


async def test_request_timeout_shorter_than_pool_timeout_answers_504_and_frees_the_wait(
    committed_app: Callable[..., Awaitable[CommittedApp]],
) -> None:
    app, client = await committed_app(
        db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=30, request_timeout_s=0.5
    )
    engine = app.state.resources.db.engine
    body = {"email": "late@example.com", "password": "x" * 16}
    async with engine.connect():
        response, elapsed = await timed(client.post("/v1/auth/register", json=body))
    assert_problem(response, 504, "request-timeout")
    assert elapsed < 5
    # The cancelled wait left no phantom checkout behind.
    assert engine.pool.checkedout() == 0
    again = await client.post("/v1/auth/register", json=body)
    assert again.status_code == 201, again.text


async def test_bursts_beyond_the_pool_queue_for_connections_instead_of_failing(
    committed_app: Callable[..., Awaitable[CommittedApp]],
) -> None:
    """Far more concurrent requests than connections, each holding one only briefly: they wait
    their turn and succeed. Fails if a request holds its connection while waiting for a second
    one (a login's rate-limit bookkeeping, an authenticated route's side transaction): then
    nearly all of them time out at once."""
    # A pool timeout long enough for a fair queue on a loaded machine, short enough that a
    # request deadlocked on a second connection still fails well inside the test.
    app, client = await committed_app(**SMALL_POOL, db_pool_timeout_s=BURST_POOL_TIMEOUT_S)
    email = "burst@example.com"
    created = await client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201
    headers = await auth_headers(client)
    burst = scaled(12, 60)
    form = {"username": email, "password": PASSWORD}
    upload = {"filename": "a.txt", "content_type": "text/plain", "size": 10}
    results = await asyncio.gather(
        *(timed(client.post("/v1/auth/token", data=form)) for _ in range(burst)),
        *(timed(client.post("/v1/files", json=upload, headers=headers)) for _ in range(burst)),
    )
    succeeded = 0
    for response, elapsed in results:
        assert elapsed < REQUEST_TIMEOUT_S
        if response.status_code in {200, 201}:
            succeeded += 1
        else:  # a slow moment on a shared machine may still cost one its turn
            assert_problem(response, 503, "database-busy")
            assert response.headers["retry-after"]
    # A deadlock on a second connection fails nearly all of them; a loaded machine, one or two.
    assert succeeded >= 0.9 * len(results), [r.status_code for r, _ in results]
    assert app.state.resources.db.engine.pool.checkedout() == 0


async def test_every_route_works_on_a_single_connection(
    committed_app: Callable[..., Awaitable[CommittedApp]],
) -> None:
    """Lambda's pool: one connection, no overflow. A route that holds the request's
    connection while its side transaction waits for a second one would hang here until the
    pool timeout and answer 503."""
    _, client = await committed_app(
        db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=2.0, request_timeout_s=10.0
    )
    email = "single@example.com"
    registered = await client.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    bad = await client.post("/v1/auth/token", data={"username": email, "password": "wrong-pass!"})
    assert bad.status_code == 401, bad.text
    tokens = await client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    pair = tokens.json()
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert (await client.get("/v1/users/me", headers=headers)).status_code == 200
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    reused = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert_problem(reused, 401, "refresh-token-reused")
    job = await client.post("/v1/jobs", json={"kind": "sleep"}, headers=headers)
    assert job.status_code == 202, job.text
    upload = {"filename": "a.txt", "content_type": "text/plain", "size": 10}
    presigned = await client.post("/v1/files", json=upload, headers=headers)
    assert presigned.status_code == 201, presigned.text
    file_id = presigned.json()["file_id"]
    completed = await client.post(f"/v1/files/{file_id}/complete", headers=headers)
    assert_problem(completed, 409, "upload-missing")
    assert (await client.delete(f"/v1/files/{file_id}", headers=headers)).status_code == 204


async def test_connections_cut_by_the_server_are_replaced_without_a_failed_request(
    committed_app: Callable[..., Awaitable[CommittedApp]],
) -> None:
    """Failover, pg_terminate_backend, RDS Proxy's idle close: every pooled connection is cut
    while idle, then reads and writes arrive at once. No ping at checkout (the pool only
    pings connections idle for DB_IDLE_PING_S, an hour here), yet none of them fails."""
    app, client = await committed_app(
        db_pool_size=POOL, db_max_overflow=OVERFLOW, db_idle_ping_s=3600
    )
    headers = await auth_headers(client)
    engine = app.state.resources.db.engine

    sleep_job = {"kind": "sleep"}

    async def mixed_burst() -> list[httpx.Response]:
        return list(
            await asyncio.gather(
                *(client.get("/v1/jobs", headers=headers) for _ in range(3)),
                *(client.post("/v1/jobs", json=sleep_job, headers=headers) for _ in range(3)),
                client.get("/v1/users/me", headers=headers),
            )
        )

    assert all(r.status_code in {200, 202} for r in await mixed_burst())
    pooled = engine.pool.checkedin()
    assert pooled >= POOL
    async with engine.connect() as admin:  # takes one of them; its own is spared below
        cut = await admin.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert cut == pooled - 1

    responses = await mixed_burst()
    assert [r.status_code for r in responses] == [200] * 3 + [202] * 3 + [200]
    listed = await client.get("/v1/jobs", headers=headers)
    assert len(listed.json()["items"]) == 6  # both bursts' writes committed
