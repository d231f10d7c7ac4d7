"""``make dev`` end to end: ``python -m app.local`` as a user runs it, stopped with Ctrl-C.

The runner starts PostgreSQL (pgserver), moto and Uvicorn; Ctrl-C in a terminal sends SIGINT
to the whole foreground process group, which is what these tests do. A second start on the
same data directory must come up cleanly with the data (and the local signing key) kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from app.config import Settings, load_settings
from app.local.aws import free_port
from app.local.keys import local_signing_keys
from tests.conftest import PASSWORD, REPO

pytestmark = pytest.mark.subprocess

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20


class LocalStack:
    """One run of ``python -m app.local`` in its own session, like a terminal's foreground job."""

    def __init__(
        self,
        data_dir: Path,
        runtime_dir: Path,
        log_path: Path,
        *,
        port: int | None = None,
        aws_port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.aws_port = aws_port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = dict(os.environ)
        # Whatever the developer's shell exports must not leak in: no DATABASE_URL or
        # AWS_ENDPOINT_URL (the runner would use them instead of its own services), no TARGET.
        for name in Settings.model_fields:
            env.pop(name.upper(), None)
        env.update(
            DATA_DIR=str(data_dir),
            PORT=str(self.port),
            LOCAL_AWS_PORT=str(self.aws_port),
            XDG_RUNTIME_DIR=str(runtime_dir),
            LOG_LEVEL="WARNING",
        )
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.local"],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children: list[psutil.Process] = []

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"runner exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code == 200:
                    # Remember every process the runner started, to check none outlives it.
                    self.children = psutil.Process(self.process.pid).children(recursive=True)
                    commands = [" ".join(c.cmdline()) for c in self.children]
                    assert any("app.local.child api" in c for c in commands), commands
                    assert any("app.local.child worker" in c for c in commands), commands
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail(f"/health never answered 200:\n{self.output()}")

    def ctrl_c(self, *, twice: bool = False) -> int:
        """SIGINT to the whole process group, as a terminal does on Ctrl-C; the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        if twice:  # an impatient second Ctrl-C while the stack is stopping
            time.sleep(0.3)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"runner still running {STOP_TIMEOUT_S} s after Ctrl-C:\n{self.output()}")

    def kill(self) -> None:
        """Last-resort cleanup so a failed test leaves nothing behind."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for child in self.children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        for postmaster in postgres_processes(self.data_dir):
            with contextlib.suppress(psutil.Error):
                postmaster.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        self._log.close()


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """Postmasters serving a cluster under ``data_dir`` (pg_ctl detaches them from our group)."""
    needle = str(data_dir.resolve())
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(needle in part for part in cmdline) and "postgres" in (proc.info["name"] or ""):
            found.append(proc)
    return found


def register_slowly(base_url: str, email: str, in_flight: threading.Event) -> httpx.Response:
    """A registration whose body trickles in over a second: still in flight at Ctrl-C."""
    body = json.dumps({"email": email, "password": PASSWORD}).encode()

    def chunks() -> Iterator[bytes]:
        yield body[:8]
        in_flight.set()
        time.sleep(1.0)
        yield body[8:]

    return httpx.post(
        base_url + "/v1/auth/register",
        content=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=15,
    )


def log_in(base_url: str, email: str) -> str:
    """The access token of a password login, which must succeed."""
    tokens = httpx.post(
        base_url + "/v1/auth/token",
        data={"username": email, "password": PASSWORD},
        timeout=10,
    )
    assert tokens.status_code == 200, tokens.text
    access: str = tokens.json()["access_token"]
    return access


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def assert_nothing_left(stack: LocalStack) -> None:
    alive = [p for p in stack.children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"processes outlived the runner: {alive}\n{stack.output()}"
    assert not postgres_processes(stack.data_dir), stack.output()
    assert refuses_connections(stack.port), "the API port still accepts connections"
    assert refuses_connections(stack.aws_port), "moto's port still accepts connections"


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    path.chmod(0o700)
    return path


def test_make_dev_serves_stops_on_ctrl_c_and_restarts_with_data_kept(
    tmp_path: Path, runtime_dir: Path
) -> None:
    data_dir = tmp_path / "data"
    email = f"dev-{uuid.uuid4().hex[:8]}@example.com"
    first = LocalStack(data_dir, runtime_dir, tmp_path / "first.log")
    try:
        first.wait_healthy()
        assert httpx.get(first.base_url + "/ready", timeout=5).status_code == 200
        assert httpx.get(first.base_url + "/docs", timeout=5).status_code == 200
        registered = httpx.post(
            first.base_url + "/v1/auth/register",
            json={"email": email, "password": PASSWORD},
            timeout=10,
        )
        assert registered.status_code == 201, registered.text
        access = log_in(first.base_url, email)
        me = httpx.get(
            first.base_url + "/v1/users/me",
            headers={"Authorization": f"Bearer {access}"},
            timeout=5,
        )
        assert me.status_code == 200
        assert me.json() == registered.json()

        # The worker that make dev starts runs a submitted job to the end.
        auth = {"Authorization": f"Bearer {access}"}
        submitted = httpx.post(
            first.base_url + "/v1/jobs",
            json={"kind": "sleep", "input": {"seconds": 0.1}},
            headers=auth,
            timeout=10,
        )
        assert submitted.status_code == 202, submitted.text
        job_url = first.base_url + submitted.headers["location"]
        deadline = time.monotonic() + 30
        while (job := httpx.get(job_url, headers=auth, timeout=5).json())["status"] != "succeeded":
            assert job["status"] in {"queued", "running"}, job
            assert time.monotonic() < deadline, job
            time.sleep(0.1)

        # Ctrl-C while a request is still arriving: Uvicorn drains it (the client gets its
        # answer) and runs the app's shutdown, rather than being forced to quit.
        late_email = f"late-{uuid.uuid4().hex[:8]}@example.com"
        in_flight = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            late: Future[httpx.Response] = pool.submit(
                register_slowly, first.base_url, late_email, in_flight
            )
            assert in_flight.wait(10)
            assert first.ctrl_c() == 0, first.output()
            assert late.result().status_code == 201, late.result().text
        output = first.output()
        assert "Application shutdown complete" in output, output
        assert "Traceback" not in output, output
        assert_nothing_left(first)
    finally:
        first.kill()

    second = LocalStack(data_dir, runtime_dir, tmp_path / "second.log")
    try:
        second.wait_healthy()
        assert httpx.get(second.base_url + "/ready", timeout=5).status_code == 200
        # Same account, same key ring: the token from the first run still works too.
        again = log_in(second.base_url, email)
        log_in(second.base_url, late_email)
        for token in (again, access):
            me = httpx.get(
                second.base_url + "/v1/users/me",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            assert me.status_code == 200, me.text
            assert me.json()["email"] == email

        # This time Ctrl-C twice: Uvicorn quits at once, the rest still stops cleanly.
        assert second.ctrl_c(twice=True) == 0, second.output()
        assert "Traceback" not in second.output(), second.output()
        assert_nothing_left(second)
    finally:
        second.kill()


def test_runner_killed_outright_leaves_nothing_that_breaks_the_next_run(
    tmp_path: Path, runtime_dir: Path
) -> None:
    data_dir = tmp_path / "data"
    killed = LocalStack(data_dir, runtime_dir, tmp_path / "killed.log")
    after: LocalStack | None = None
    try:
        killed.wait_healthy()
        killed.process.kill()  # SIGKILL to the runner alone: no chance to clean up
        killed.process.wait()
        # The API and moto follow their runner and free their ports.
        ports = (killed.port, killed.aws_port)
        deadline = time.monotonic() + 10
        while not all(map(refuses_connections, ports)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert refuses_connections(killed.port), "Uvicorn outlived its killed runner"
        assert refuses_connections(killed.aws_port), "moto outlived its killed runner"
        # PostgreSQL is a daemon; the next run, on the same ports, takes it over and stops it.
        after = LocalStack(
            data_dir,
            runtime_dir,
            tmp_path / "after.log",
            port=killed.port,
            aws_port=killed.aws_port,
        )
        after.wait_healthy()
        assert httpx.get(after.base_url + "/ready", timeout=5).status_code == 200
        assert after.ctrl_c() == 0, after.output()
        assert_nothing_left(after)
        stray = [
            p for p in killed.children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        ]
        assert not stray, stray
    finally:
        killed.kill()
        if after is not None:
            after.kill()


def test_the_local_key_ring_is_generated_once_and_kept(tmp_path: Path) -> None:
    keys = local_signing_keys(tmp_path / "data")
    assert (tmp_path / "data" / "jwt-keys.json").stat().st_mode & 0o777 == 0o600
    assert local_signing_keys(tmp_path / "data") == keys
    kid, ring = load_settings(jwt_signing_keys=keys).auth.key_ring()
    assert len(ring[kid].encode()) >= 32
