"""Stopping and reloading Gunicorn (docker/gunicorn.conf.py, 2 Uvicorn workers) under load.

SIGTERM is how ECS and an ASG stop a task or instance once the ALB has stopped sending it new
requests: every request already in flight must still get its 2xx, the master must exit within
GRACEFUL_TIMEOUT, and no database session may be left behind. SIGHUP (reload) swaps the
workers under a steady load without failing any request.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy.engine import make_url

from app.local.aws import LocalAws, free_port
from tests.conftest import PASSWORD, REPO, server_env
from tests.reliability.conftest import aws_env, bearer_for, log_tail, scaled

GRACEFUL_TIMEOUT_S = 15
IN_FLIGHT = 50
LOAD_CLIENTS = 8
LOAD_BEFORE_RELOAD = 12  # answered requests before each reload and after it


class Gunicorn:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = int(env["PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "docker/gunicorn.conf.py"],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, log_tail(self.log_path)
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log_tail(self.log_path)
            time.sleep(0.1)

    def workers(self) -> list[psutil.Process]:
        children: list[psutil.Process] = psutil.Process(self.process.pid).children()
        return children

    def accepted_connections(self) -> int:
        """Client connections the workers have accept()ed (the backlog belongs to no worker)."""
        count = 0
        for worker in self.workers():
            try:
                connections = worker.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            count += sum(
                1
                for c in connections
                if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == self.port
            )
        return count

    def stop(self) -> None:
        # SIGTERM first: a SIGKILLed master leaves its Uvicorn workers running as orphans.
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(GRACEFUL_TIMEOUT_S + 5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


@pytest.fixture
def gunicorn(
    clone_database: Callable[[], str], tmp_path: Path, queues: LocalAws
) -> Iterator[tuple[Gunicorn, str]]:
    url = clone_database()
    env = server_env(
        url,
        tmp_path / "data",
        PORT=str(free_port()),
        HOST="127.0.0.1",
        WEB_CONCURRENCY="2",
        TARGET="ec2",
        GRACEFUL_TIMEOUT=str(GRACEFUL_TIMEOUT_S),
        DOCS_ENABLED="false",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        REGISTER_MAX_PER_WINDOW="100000",
        LOGIN_MAX_FAILURES="100000",
        DIAGNOSTIC_JOBS="true",
        # Real work per login: argon2id at OWASP's minimum (19 MiB, 2 passes).
        ARGON2_TIME_COST="2",
        ARGON2_MEMORY_COST_KIB="19456",
        **aws_env(queues),
    )
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        yield server, str(make_url(url).database)
    finally:
        server.stop()


async def held_request(
    port: int, head: str, body: bytes, release: asyncio.Event
) -> tuple[int, float]:
    """Send the headers and all but the last byte of the body, wait for ``release``, finish
    it; returns (status, when the response arrived)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"{head}\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(request.encode() + body[:-1])
    await writer.drain()
    await release.wait()
    writer.write(body[-1:])
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 60)
    writer.close()
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0
    return status, time.monotonic()


def app_sessions(database: str, pg_server: Any) -> int:
    assert database.isidentifier()  # a name clone_database made; safe to quote as a literal
    out = pg_server.psql(
        "SELECT count(*) FROM pg_stat_activity "  # noqa: S608
        f"WHERE datname = '{database}' AND application_name = 'trident-ec2';"
    )
    return int(out.split()[2])


@pytest.mark.subprocess
async def test_sigterm_finishes_every_request_in_flight_then_leaves_no_session(
    gunicorn: tuple[Gunicorn, str], pg_server: Any
) -> None:
    server, database = gunicorn
    bearer = bearer_for(server.base_url)
    email = f"shutdown-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        created = await client.post(
            "/v1/auth/register", json={"email": email, "password": PASSWORD}
        )
        assert created.status_code == 201
    login = (
        "POST /v1/auth/token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        f"username={email}&password={PASSWORD.replace(' ', '+')}".encode(),
    )
    job = (
        f"POST /v1/jobs HTTP/1.1\r\nContent-Type: application/json\r\n"
        f"Authorization: {bearer['Authorization']}",
        b'{"kind": "sleep", "input": {"seconds": 0.5}}',
    )
    soon, late = asyncio.Event(), asyncio.Event()
    # Half argon2 logins, half job submissions (database + SQS); a fifth of them keep their
    # body back for two more seconds, like slow clients.
    requests = [
        held_request(server.port, *(login if i % 2 else job), late if i % 5 == 0 else soon)
        for i in range(IN_FLIGHT)
    ]
    tasks = [asyncio.create_task(request) for request in requests]
    deadline = time.monotonic() + 20
    while server.accepted_connections() < IN_FLIGHT:
        assert time.monotonic() < deadline, f"only {server.accepted_connections()} accepted"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # let the workers parse the request heads they accepted
    assert app_sessions(database, pg_server) > 0  # the pools hold connections now

    server.process.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    soon.set()
    await asyncio.sleep(2)
    late.set()
    results = await asyncio.gather(*tasks)
    statuses = [status for status, _ in results]
    assert statuses == [202 if i % 2 == 0 else 200 for i in range(IN_FLIGHT)], statuses
    # Everything was answered after SIGTERM: these requests really were in flight.
    assert all(answered > stopped_at for _, answered in results)

    exit_code = await asyncio.to_thread(server.process.wait, GRACEFUL_TIMEOUT_S + 15)
    exited_after = time.monotonic() - stopped_at
    assert exit_code == 0, log_tail(server.log_path)
    assert exited_after < GRACEFUL_TIMEOUT_S, f"took {exited_after:.1f} s to exit"
    # Every pooled connection was closed by the lifespan shutdown (the server may take a
    # moment to retire a backend after its client hung up).
    deadline = time.monotonic() + 10
    while app_sessions(database, pg_server):
        assert time.monotonic() < deadline, "database sessions left open after exit"
        await asyncio.sleep(0.2)


def job_keys(database: str, pg_server: Any) -> set[str]:
    assert database.isidentifier()
    out = pg_server.psql(f"\\c {database}\nSELECT 'key:' || idempotency_key FROM jobs;")
    return {line.strip()[4:] for line in out.splitlines() if line.strip().startswith("key:")}


@pytest.mark.subprocess
async def test_sighup_reload_under_load_fails_no_accepted_request(
    gunicorn: tuple[Gunicorn, str], pg_server: Any
) -> None:
    """Requests keep coming while the workers are replaced. Every request a worker read is
    answered 2xx; the only losses are connections an old worker had accepted but not yet read
    when it stopped (uvicorn closes those unanswered): they did nothing, so a retry is safe."""
    server, database = gunicorn
    bearer = bearer_for(server.base_url)
    old_workers = {worker.pid for worker in server.workers()}
    answered: dict[str, int] = {}
    unanswered: list[str] = []
    stop = asyncio.Event()

    async def client_loop() -> None:
        # A new connection per request: each one is accepted by whichever worker is current.
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            while not stop.is_set():
                key = uuid.uuid4().hex
                body = {"kind": "sleep", "input": {}, "idempotency_key": key}
                try:
                    response = await client.post(
                        "/v1/jobs", json=body, headers={**bearer, "Connection": "close"}
                    )
                except (httpx.RemoteProtocolError, httpx.ReadError):  # closed or reset
                    unanswered.append(key)
                    continue
                answered[key] = response.status_code

    async def until_answered(more: int) -> None:
        # Counted, not timed: on a busy machine one second may hold only a few requests.
        target = len(answered) + more
        deadline = time.monotonic() + 60
        while len(answered) < target:
            assert time.monotonic() < deadline, log_tail(server.log_path)
            await asyncio.sleep(0.05)

    loops = [asyncio.create_task(client_loop()) for _ in range(LOAD_CLIENTS)]
    await until_answered(LOAD_BEFORE_RELOAD)
    reloads = scaled(1, 4)
    for _ in range(reloads):
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        # Reloaded: two new workers serving, the old ones gone.
        while {w.pid for w in server.workers()} & old_workers or len(server.workers()) != 2:
            assert time.monotonic() < deadline, log_tail(server.log_path)
            await asyncio.sleep(0.2)
        old_workers = {worker.pid for worker in server.workers()}
        await until_answered(LOAD_BEFORE_RELOAD)
    stop.set()
    await asyncio.gather(*loops)

    assert set(answered.values()) == {202}, answered
    stored = job_keys(database, pg_server)
    assert stored == set(answered), "a request had an effect but no answer, or the reverse"
    assert len(answered) >= LOAD_BEFORE_RELOAD * (reloads + 1)
    # At most the one request each client had open when a reload caught it unread.
    assert len(unanswered) <= LOAD_CLIENTS * reloads, (len(unanswered), len(answered))
