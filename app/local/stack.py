"""The local stack, started one way for every local run: ``make dev``, ``make lambda-dev``,
the test fixtures and the bench.

PostgreSQL from the pgserver wheel (migrated), moto's server standing in for S3 and SQS with
our bucket and queues, and on request the API and the jobs worker as child processes. moto
runs in a process of its own: an in-process one shares moto's global state with any
``mock_aws`` block, and its CPU would be the caller's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.local.aws import LOCAL_CREDENTIALS, LocalAws, free_port, provision
from app.local.keys import local_signing_keys
from app.local.postgres import database_url, start_postgres

LOOPBACK = "127.0.0.1"
DATA_DIR = Path(os.environ.get("DATA_DIR", ".data"))
API_PORT = int(os.environ.get("PORT", "8000"))
AWS_PORT = int(os.environ.get("LOCAL_AWS_PORT", "4566"))


def wait_for_port(
    port: int, *, process: subprocess.Popen[bytes] | None = None, within_s: float = 30
) -> None:
    """Until something accepts on ``port``; fails early if ``process`` exits meanwhile."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the process meant to listen on {port} exited") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing on {LOOPBACK}:{port} after {within_s} s") from None
            time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` (SIGTERM rather than SIGINT: after a terminal's
    own SIGINT, a second one makes Uvicorn quit without draining)."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def port_is_free(port: int) -> bool:
    """Nothing listens on ``port`` (a closed connection's TIME_WAIT does not count: moto's
    server binds with SO_REUSEADDR too)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


@contextmanager
def moto_server(port: int | None = None) -> Iterator[str]:
    """moto's server in a process of its own; yields its endpoint URL. A given ``port`` must
    be free: whatever already listens there is not ours to use."""
    if port and not port_is_free(port):
        raise OSError(f"port {port} is busy")
    port = port or free_port()
    # Through our child runner: it stops by itself if this process is ever killed outright.
    process = subprocess.Popen(  # noqa: S603  (our interpreter and module)
        [sys.executable, "-m", "app.local.child", "moto", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=process)
        yield f"http://{LOOPBACK}:{port}"
    finally:
        stop_process(process)


@contextmanager
def postgres(pgdata: Path, *, keep: bool = False) -> Iterator[Any]:
    """A PostgreSQL cluster at ``pgdata`` (kept for the next run with ``keep``, else deleted);
    yields the pgserver handle."""
    server = start_postgres(pgdata, cleanup_mode="stop" if keep else "delete")
    try:
        yield server
    finally:
        server.cleanup()


@dataclass(frozen=True)
class LocalStack:
    database_url: str
    aws: LocalAws
    jwt_signing_keys: str
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """What the app reads to use this stack."""
        return {
            "DATABASE_URL": self.database_url,
            "JWT_SIGNING_KEYS": self.jwt_signing_keys,
            "AWS_ENDPOINT_URL": self.aws.endpoint_url,
            "S3_BUCKET": self.aws.bucket,
            "JOBS_QUEUE_URL": self.aws.jobs_queue_url,
            "JOBS_DLQ_URL": self.aws.dead_letter_queue_url,
            "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
        }


def _quiet(_: str) -> None:
    pass


@contextmanager
def local_stack(
    *,
    pgdata: Path,
    keep_data: bool = False,
    database_url_given: str | None = None,
    aws_endpoint_given: str | None = None,
    aws_port: int | None = None,
    bucket: str,
    queue: str,
    region: str = "us-east-1",
    cors_origins: Sequence[str] = (),
    upload_events: bool = True,
    api_port: int | None = None,
    worker: bool = False,
    child_env: dict[str, str] | None = None,
    say: Callable[[str], None] = _quiet,
) -> Iterator[LocalStack]:
    """PostgreSQL (migrated) and moto with our bucket and queues, either taken as given
    instead; with ``api_port`` and ``worker``, the API and the jobs worker as children that
    stop by themselves if this process is ever killed outright."""
    from app.migrations import upgrade_head

    with ExitStack() as stack:
        if database_url_given:
            url = database_url_given
            say("using DATABASE_URL from the environment")
        else:
            started = time.perf_counter()
            url = database_url(stack.enter_context(postgres(pgdata, keep=keep_data)))
            say(f"PostgreSQL ready in {time.perf_counter() - started:.1f} s (data in {pgdata})")
        upgrade_head(url)
        if aws_endpoint_given:
            endpoint = aws_endpoint_given
            say(f"using AWS_ENDPOINT_URL={endpoint}")
        else:
            endpoint = stack.enter_context(moto_server(aws_port))
        aws = provision(
            endpoint,
            region=region,
            bucket=bucket,
            queue=queue,
            cors_origins=cors_origins,
            upload_events=upload_events,
        )
        say(f"S3 + SQS (moto) on {endpoint}: bucket {aws.bucket}, queue {queue}")
        # A key ring the user set wins (tokens they hold stay valid).
        keys = os.environ.get("JWT_SIGNING_KEYS") or local_signing_keys(pgdata.parent)
        local = LocalStack(database_url=url, aws=aws, jwt_signing_keys=keys)
        env = {**os.environ, **(child_env or {}), **local.env()}
        wanted = ([["api", str(api_port)]] if api_port else []) + ([["worker"]] if worker else [])
        for args in wanted:
            child = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
                [sys.executable, "-m", "app.local.child", *args], env=env
            )
            stack.callback(stop_process, child)
            local.children.append(child)
        yield local


def dev_stack(
    *, say: Callable[[str], None] = _quiet, **children: Any
) -> AbstractContextManager[LocalStack]:
    """The stack as ``make dev`` runs it: data kept under DATA_DIR, moto on LOCAL_AWS_PORT,
    DATABASE_URL or AWS_ENDPOINT_URL taken instead when set."""
    from app.config import load_settings

    settings = load_settings()
    if not os.environ.get("AWS_ENDPOINT_URL") and not port_is_free(AWS_PORT):
        raise SystemExit(f"port {AWS_PORT} is busy; set LOCAL_AWS_PORT to a free port")
    return local_stack(
        pgdata=DATA_DIR / "pg",
        keep_data=True,
        database_url_given=os.environ.get("DATABASE_URL"),
        aws_endpoint_given=os.environ.get("AWS_ENDPOINT_URL"),
        aws_port=AWS_PORT,
        region=settings.aws.region,
        bucket=settings.files.bucket,
        queue=os.environ.get("JOBS_QUEUE_NAME", "trident-jobs"),
        # The upload page POSTs to the bucket from the API's origin.
        cors_origins=settings.files.cors_origins
        or [f"http://127.0.0.1:{API_PORT}", f"http://localhost:{API_PORT}"],
        # Below the runner's own 10 s wait for its children.
        child_env={"WORKER_SHUTDOWN_GRACE_S": "5", "WORKER_POLL_WAIT_S": "2"},
        say=say,
        **children,
    )
