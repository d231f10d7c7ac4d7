"""Containers and the Lambda handler, warm and cold, next to a FastAPI hello world:
``python -m bench load [--runs 3] [--duration 3] [--concurrency 16] [--json]``.

On a local stack (PostgreSQL, moto for S3 and SQS), all on 127.0.0.1:

- **Container cold start**: Gunicorn with docker/gunicorn.conf.py and 2 Uvicorn workers,
  from spawn to the first 200 on ``/health``; the full app and a minimal FastAPI app take
  turns, ``--runs`` each.
- **Warm load**: the same Gunicorn, a fixed number of keep-alive connections for
  ``--duration`` seconds (after a warm-up), for ``/health``, an authenticated database read
  with an ETag (``GET /v1/files/{id}``), a presigned upload (``POST /v1/files``) and a job
  enqueue (``POST /v1/jobs``), and the hello world's JSON as the baseline. ``wrk`` drives it
  when on PATH, else the asyncio generator below (bounded in count and time, 127.0.0.1 only).
  With two CPUs or more the server is pinned to one (``taskset``), and the client,
  PostgreSQL and moto to another; the server's CPU time per request is measured from its
  processes, so capacity per vCPU does not depend on who was the bottleneck.
- **Lambda warm path**: the API handler (the bundle, the runtime's Python) in-process,
  per-invoke latency of the same endpoints: the duration Lambda bills.

Keys of the JSON (other tools read them): ``pinning``, ``generator``, ``concurrency``,
``duration_s``, ``container_coldstart.{app,baseline}.{median_ms,min_ms,max_ms,runs_ms}``,
``container_coldstart.ratio``, ``scenarios[name]`` and ``lambda_warm[name]`` (see
``Scenario`` and ``LambdaWarm``), names: hello (baseline), health, read, job_read, presign,
enqueue, and floor_read: the same-stack floor of ``read`` (``bench/floor_read.py``), with
``rps_ratio_to_floor`` and ``cpu_ratio_to_floor`` on ``read`` and ``job_read``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from app.local.stack import stop_process
from bench.stats import Latencies
from bench.warm_invokes import WarmSamples, invoke_warm
from deployment.lockfile import REPO

GUNICORN_CONF = REPO / "docker" / "gunicorn.conf.py"
HELLO_MODULE = "bench_hello"
FLOOR_MODULE = "bench.floor_read"
HELLO_SOURCE = '''"""Minimal FastAPI app: the floor a FastAPI container cannot go below."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
'''
JWT_KEYS = {"bench": "b" * 48}
PASSWORD = "bench-password-not-a-secret"  # noqa: S105  (a throwaway local user)
LOOPBACK = "127.0.0.1"
MAX_REQUESTS_PER_SCENARIO = 200_000
PRESIGN_BODY = json.dumps(
    {"filename": "bench.txt", "content_type": "text/plain", "size": 1024}
).encode()
ENQUEUE_BODY = json.dumps({"kind": "export", "input": {}}).encode()
Step = Callable[[str], None]


def _no_step(_: str) -> None:
    pass


# --- where things run -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pinning:
    """The server's CPU and everyone else's, or none when there is a single CPU or no taskset."""

    server_cpu: int | None
    client_cpu: int | None

    @classmethod
    def detect(cls) -> Pinning:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if len(cpus) < 2 or shutil.which("taskset") is None:
            return cls(None, None)
        return cls(cpus[0], cpus[1])

    def server_prefix(self) -> list[str]:
        return [] if self.server_cpu is None else ["taskset", "-c", str(self.server_cpu)]

    def describe(self) -> str:
        if self.server_cpu is None:
            return "not pinned (fewer than 2 CPUs or no taskset): server and client share CPUs"
        return (
            f"server (Gunicorn, Lambda handler) on CPU {self.server_cpu} with taskset; "
            f"client, PostgreSQL and moto on CPU {self.client_cpu}"
        )

    @contextlib.contextmanager
    def client_side(self) -> Iterator[None]:
        """This process (and whatever it starts, PostgreSQL and moto) on the client's CPU."""
        if self.client_cpu is None:
            yield
            return
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {self.client_cpu})
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)


# --- the local stack --------------------------------------------------------------------------


@dataclass
class Stack:
    database_url: str
    aws_endpoint: str
    bucket: str
    queue_url: str
    dlq_url: str
    workdir: Path
    token: str = ""
    file_id: str = ""
    job_id: str = ""

    def server_env(self, **extra: str) -> dict[str, str]:
        """The full app as a container target runs it (TARGET=fargate, the pool Trident-Fargate
        deploys), on this stack."""
        from deployment.settings import DeploySettings

        deployed = DeploySettings()
        return {
            "TARGET": "fargate",
            "DB_POOL_SIZE": str(deployed.fargate_db_pool_size),
            "DB_MAX_OVERFLOW": str(deployed.fargate_db_max_overflow),
            "DATABASE_URL": self.database_url,
            "DB_SSLMODE": "disable",  # a Unix socket here; TLS to RDS on AWS
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "S3_BUCKET": self.bucket,
            "JOBS_QUEUE_URL": self.queue_url,
            "JOBS_DLQ_URL": self.dlq_url,
            "JWT_SIGNING_KEYS": json.dumps(JWT_KEYS),
            "JWT_ACTIVE_KID": "bench",
            "DATA_DIR": str(self.workdir / "data"),
            # The presign rate limit (60/min per user) would turn the run into 429s.
            "FILES_PRESIGN_MAX_PER_WINDOW": "1000000000",
            "LOG_LEVEL": "INFO",  # production's level: log volume is part of the cost
            # Only the one login before the run hashes a password: keep it quick.
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "8192",
            "ARGON2_PARALLELISM": "1",
            **extra,
        }


@contextlib.contextmanager
def local_stack(
    workdir: Path, *, database_url: str | None = None, aws_endpoint: str | None = None
) -> Iterator[Stack]:
    """The local stack (PostgreSQL migrated, moto with a bucket and queues of this run's own),
    either service given instead."""
    from app.local.stack import local_stack as start_stack

    suffix = os.urandom(4).hex()
    with start_stack(
        pgdata=workdir / "pg",
        database_url_given=database_url,
        aws_endpoint_given=aws_endpoint,
        bucket=f"bench-{suffix}",
        queue=f"bench-jobs-{suffix}",
        upload_events=False,
    ) as local:
        # The load client signs its own S3 and SQS calls to moto.
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(name, local.env()[name])
        yield Stack(
            database_url=local.database_url,
            aws_endpoint=local.aws.endpoint_url,
            bucket=local.aws.bucket,
            queue_url=local.aws.jobs_queue_url,
            dlq_url=local.aws.dead_letter_queue_url,
            workdir=workdir,
        )


# --- raw HTTP/1.1 over loopback ---------------------------------------------------------------


def http_request(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}"]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    if body or method not in {"GET", "HEAD"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_response(buffer: bytes) -> tuple[int, int] | None:
    """``(status, total length)`` of the first complete response in ``buffer``, or None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buffer[:end].lower()
    status = int(head[9:12])
    marker = head.find(b"\r\ncontent-length:")
    if marker < 0:
        raise ValueError("response without Content-Length")
    value_end = head.find(b"\r\n", marker + 2)
    length = int(head[marker + 17 : value_end if value_end > 0 else len(head)])
    total = end + 4 + length
    return (status, total) if len(buffer) >= total else None


def fetch(port: int, request: bytes, *, timeout: float = 5) -> tuple[int, bytes]:
    """One request on a fresh connection: ``(status, whole response)``."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        return exchange(sock, request)


def exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """One request on an open connection: ``(status, whole response)``."""
    sock.sendall(request)
    buffer = b""
    while (parsed := parse_response(buffer)) is None:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a full response")
        buffer += chunk
    return parsed[0], buffer[: parsed[1]]


def response_json(response: bytes) -> Any:
    return json.loads(response[response.find(b"\r\n\r\n") + 4 :])


def response_header(response: bytes, name: str) -> str | None:
    head = response[: response.find(b"\r\n\r\n")].decode("latin-1")
    match = re.search(rf"^{re.escape(name)}:\s*(.*?)\s*$", head, re.IGNORECASE | re.MULTILINE)
    return match.group(1) if match else None


@dataclass
class _Tally:
    latencies_ns: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    received: int = 0
    reconnects: int = 0


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending ``request`` back to back until told to stop."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.buffer = b""
        self.sent_at = 0
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if not self.run.more():
            self.transport.close()
            return
        self.sent_at = time.perf_counter_ns()
        self.transport.write(self.run.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (parsed := parse_response(self.buffer)) is not None:
            status, total = parsed
            self.run.record(status, time.perf_counter_ns() - self.sent_at, total)
            self.buffer = self.buffer[total:]
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(self.sent_at != 0 and self.buffer != b"")


class _Run:
    def __init__(self, request: bytes, *, duration_s: float, max_requests: int) -> None:
        self.request = request
        self.deadline = time.perf_counter() + duration_s
        self.remaining = max_requests
        self.tally = _Tally()

    def more(self) -> bool:
        if self.remaining <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.remaining -= 1
        return True

    def record(self, status: int, latency_ns: int, size: int) -> None:
        tally = self.tally
        tally.latencies_ns.append(latency_ns)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        tally.received += size


async def _drive(
    port: int, request: bytes, *, concurrency: int, duration_s: float, max_requests: int
) -> tuple[_Tally, float]:
    loop = asyncio.get_running_loop()
    run = _Run(request, duration_s=duration_s, max_requests=max_requests)
    started = time.perf_counter()

    async def connection() -> None:
        while True:
            _, protocol = await loop.create_connection(lambda: _Connection(run), LOOPBACK, port)
            cut_short = await protocol.closed
            if not cut_short and not run.more():
                return
            # The server closed it (worker restart): that request failed; carry on.
            if cut_short:
                run.tally.errors += 1
            else:
                run.remaining += 1  # more() above took a slot the next connection uses
            run.tally.reconnects += 1

    # Bounded even if a connection never answers.
    await asyncio.wait_for(
        asyncio.gather(*(connection() for _ in range(concurrency))), duration_s + 30
    )
    return run.tally, time.perf_counter() - started


def generate(
    port: int, request: bytes, *, concurrency: int, duration_s: float, max_requests: int
) -> tuple[_Tally, float]:
    """Closed-loop load: ``concurrency`` connections, each sending ``request`` as soon as
    the previous answer is in, until ``duration_s`` or ``max_requests``; 127.0.0.1 only."""
    try:
        import uvloop

        runner: Callable[..., Any] = uvloop.run
    except ImportError:  # pragma: no cover  (uvicorn[standard] brings it)
        runner = asyncio.run
    result: tuple[_Tally, float] = runner(
        _drive(
            port,
            request,
            concurrency=concurrency,
            duration_s=duration_s,
            max_requests=max_requests,
        )
    )
    return result


# --- wrk, when installed ----------------------------------------------------------------------

_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def wrk_lua(method: str, headers: dict[str, str], body: bytes) -> str:
    lines = [f'wrk.method = "{method}"']
    if body:
        lines.append(f"wrk.body = {json.dumps(body.decode())}")
    lines += [f'wrk.headers["{key}"] = {json.dumps(value)}' for key, value in headers.items()]
    return "\n".join(lines) + "\n"


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, latency percentiles (ms), requests, bytes read and non-2xx from ``wrk
    --latency``."""
    found: dict[str, float] = {}
    for rank in ("50", "90", "99"):
        match = re.search(rf"^\s+{rank}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if match:
            found[f"p{rank}_ms"] = float(match.group(1)) * _WRK_UNITS[match.group(2)]
    if match := re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s)", output, re.MULTILINE):
        found["mean_ms"] = float(match.group(1)) * _WRK_UNITS[match.group(2)]
    if match := re.search(r"(\d+) requests in ([\d.]+)s, ([\d.]+)(B|KB|MB|GB) read", output):
        found["requests"] = float(match.group(1))
        found["seconds"] = float(match.group(2))
        found["bytes_read"] = float(match.group(3)) * _SIZE_UNITS[match.group(4)]
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        found["rps"] = float(match.group(1))
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    found["errors"] = float(match.group(1)) if match else 0.0
    return found


# --- servers ----------------------------------------------------------------------------------


class Gunicorn:
    """``gunicorn -c docker/gunicorn.conf.py`` with 2 workers on 127.0.0.1, output to a file."""

    def __init__(
        self, *, app: str | None, env: dict[str, str], pinning: Pinning, workdir: Path
    ) -> None:
        from app.local.aws import free_port

        self.port = free_port()
        self.log_path = workdir / f"gunicorn-{self.port}.log"
        command = [*pinning.server_prefix(), sys.executable, "-m", "gunicorn"]
        command += ["-c", str(GUNICORN_CONF), "--pythonpath", str(workdir)]
        if app is not None:
            command.append(app)
        environment = {
            **os.environ,
            **env,
            "HOST": LOOPBACK,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "2",
            "GRACEFUL_TIMEOUT": "5",
            # Recycling every ~5,000 requests would put worker restarts into the window.
            "MAX_REQUESTS": "0",
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{self.port}"),
        }
        with self.log_path.open("wb") as log:
            self.started = time.perf_counter()
            self.process = subprocess.Popen(  # noqa: S603  (our interpreter and config)
                command, env=environment, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_healthy(self, timeout_s: float = 60) -> float:
        """Milliseconds from spawn to the first 200 on /health."""
        request = http_request("GET", "/health")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if fetch(self.port, request, timeout=2)[0] == 200:
                    return (time.perf_counter() - self.started) * 1000
            time.sleep(0.005)
        raise TimeoutError(f"no 200 on /health within {timeout_s} s:\n{self.log_tail()}")

    def wait_every_worker(
        self, request: bytes, expected: int, *, workers: int = 2, timeout_s: float = 60
    ) -> float:
        """Milliseconds from spawn until each of ``workers`` worker processes has answered
        ``request`` with ``expected``. Each answered connection stays open (a worker is told
        apart by which process holds its server side), so later ones reach other workers."""
        import psutil

        served: set[int] = set()
        held: list[socket.socket] = []
        deadline = time.monotonic() + timeout_s
        try:
            while len(served) < workers:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{len(served)} of {workers} workers answered within {timeout_s} s:\n"
                        f"{self.log_tail()}"
                    )
                if self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited:\n{self.log_tail()}")
                try:
                    sock = socket.create_connection((LOOPBACK, self.port), timeout=5)
                except OSError:
                    time.sleep(0.005)
                    continue
                held.append(sock)
                with contextlib.suppress(OSError):
                    if exchange(sock, request)[0] == expected:
                        client_port = sock.getsockname()[1]
                        served |= {
                            worker.pid
                            for worker in psutil.Process(self.process.pid).children()
                            if any(
                                c.laddr
                                and c.laddr.port == self.port
                                and c.raddr
                                and c.raddr.port == client_port
                                for c in worker.net_connections(kind="tcp")
                            )
                        }
            return (time.perf_counter() - self.started) * 1000
        finally:
            for sock in held:
                sock.close()

    def cpu_seconds(self) -> float:
        """CPU time of the workers (and the master) so far."""
        import psutil

        try:
            master = psutil.Process(self.process.pid)
            processes = [master, *master.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def log_size(self) -> tuple[int, int]:
        """(bytes, lines) the server has written so far."""
        data = self.log_path.read_bytes()
        return len(data), data.count(b"\n")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        stop_process(self.process)


# --- container cold start ---------------------------------------------------------------------


def _spread(samples: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(samples), 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "runs_ms": [round(sample, 1) for sample in samples],
    }


def container_coldstart(
    stack: Stack, *, runs: int, pinning: Pinning, step: Step = _no_step
) -> dict[str, Any]:
    """Spawn to the first 200 on /health, full app and hello world taking turns; then spawn
    until every worker has answered an authenticated ``GET /v1/files/{id}``, the app and its
    same-stack floor (``bench/floor_read.py``) taking turns."""
    servers = {
        "app": (None, stack.server_env()),
        "baseline": (f"{HELLO_MODULE}:app", {"LOG_LEVEL": "INFO"}),
        "app_read": (None, stack.server_env()),
        "floor_read": (f"{FLOOR_MODULE}:app", stack.server_env()),
    }
    samples: dict[str, list[float]] = {name: [] for name in servers}
    for run in range(runs):
        for name, (app, env) in servers.items():
            server = Gunicorn(app=app, env=env, pinning=pinning, workdir=stack.workdir)
            try:
                if name.endswith("_read"):
                    read = http_request("GET", f"/v1/files/{stack.file_id}", headers=_auth(stack))
                    samples[name].append(server.wait_every_worker(read, 200))
                else:
                    samples[name].append(server.wait_healthy())
                if name == "app" and not stack.token:
                    # The user and file the reads ask for, made once through the app's API.
                    stack.token, stack.file_id = _prepare_user(server.port)
            finally:
                server.stop()
            step(f"container cold start {name} {run + 1}/{runs}")
    median = {name: statistics.median(values) for name, values in samples.items()}
    return {
        **{name: _spread(values) for name, values in samples.items()},
        "ratio": round(median["app"] / median["baseline"], 3),
        "read_ratio": round(median["app_read"] / median["floor_read"], 3),
    }


# --- warm load --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One endpoint under load. Latencies in ms; ``server_cpu_ms`` is the server's CPU time
    per request; ``log_*`` what it logged per request; ``*_bytes`` per request on the wire."""

    method: str
    path: str
    expected_status: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    server_cpu_ms: float
    request_bytes: float
    response_bytes: float
    log_bytes: float
    log_events: float
    # New database connections opened while measuring (0 in a steady state).
    connects: int | None = None
    rps_ratio_to_baseline: float | None = None
    p50_ratio_to_baseline: float | None = None
    rps_ratio_to_floor: float | None = None
    cpu_ratio_to_floor: float | None = None


@dataclass(frozen=True)
class Target:
    name: str
    method: str
    path: str
    expected_status: int
    headers: dict[str, str]
    body: bytes = b""

    def request(self) -> bytes:
        return http_request(self.method, self.path, headers=self.headers, body=self.body)


class SessionCounter:
    """Sessions PostgreSQL has established to one database (``pg_stat_database.sessions``),
    read over a single connection held for the whole run, so reading adds none."""

    # Busy backends publish their statistics at most once a second.
    STATS_DELAY_S = 1.1

    def __init__(self, database_url: str) -> None:
        import asyncpg  # type: ignore[import-untyped]

        self.loop = asyncio.new_event_loop()
        self.connection = self.loop.run_until_complete(asyncpg.connect(database_url))

    def count(self) -> int:
        time.sleep(self.STATS_DELAY_S)
        value = self.loop.run_until_complete(
            self.connection.fetchval(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            )
        )
        return int(value)

    def close(self) -> None:
        self.loop.run_until_complete(self.connection.close())
        self.loop.close()


def _measure(
    server: Gunicorn,
    target: Target,
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    pinning: Pinning,
    use_wrk: bool,
    sessions: SessionCounter | None = None,
) -> Scenario:
    request = target.request()
    status, _ = fetch(server.port, request)
    if status != target.expected_status:
        raise RuntimeError(f"{target.name}: {status} != {target.expected_status}")
    if warmup_s > 0:
        generate(
            server.port,
            request,
            concurrency=concurrency,
            duration_s=warmup_s,
            max_requests=MAX_REQUESTS_PER_SCENARIO,
        )
    sessions_before = sessions.count() if sessions is not None else None
    cpu_before = server.cpu_seconds()
    log_before = server.log_size()
    if use_wrk:
        stats = _run_wrk(server.port, target, concurrency, duration_s, pinning, server.log_path)
    else:
        tally, elapsed = generate(
            server.port,
            request,
            concurrency=concurrency,
            duration_s=duration_s,
            max_requests=MAX_REQUESTS_PER_SCENARIO,
        )
        latencies = Latencies.of(ns / 1e6 for ns in tally.latencies_ns)
        wrong = sum(n for code, n in tally.statuses.items() if code != target.expected_status)
        stats = {
            "requests": float(latencies.count),
            "errors": float(wrong + tally.errors),
            "rps": latencies.count / elapsed,
            "p50_ms": latencies.p50,
            "p90_ms": latencies.p90,
            "p99_ms": latencies.p99,
            "mean_ms": latencies.mean,
            "bytes_read": float(tally.received),
        }
    cpu = server.cpu_seconds() - cpu_before
    log_after = server.log_size()
    connects = None
    if sessions is not None and sessions_before is not None:
        connects = sessions.count() - sessions_before
    served = max(1.0, stats["requests"])
    return Scenario(
        method=target.method,
        path=target.path,
        expected_status=target.expected_status,
        requests=int(stats["requests"]),
        errors=int(stats["errors"]),
        rps=round(stats["rps"], 1),
        p50_ms=round(stats["p50_ms"], 3),
        p90_ms=round(stats.get("p90_ms", math.nan), 3),
        p99_ms=round(stats["p99_ms"], 3),
        mean_ms=round(stats["mean_ms"], 3),
        server_cpu_ms=round(cpu * 1000 / served, 4),
        request_bytes=float(len(request)),
        response_bytes=round(stats["bytes_read"] / served, 1),
        log_bytes=round((log_after[0] - log_before[0]) / served, 1),
        log_events=round((log_after[1] - log_before[1]) / served, 3),
        connects=connects,
    )


def _run_wrk(
    port: int,
    target: Target,
    concurrency: int,
    duration_s: float,
    pinning: Pinning,
    scratch: Path,
) -> dict[str, float]:
    script = scratch.with_suffix(f".{target.name}.lua")
    script.write_text(wrk_lua(target.method, target.headers, target.body))
    command = [] if pinning.client_cpu is None else ["taskset", "-c", str(pinning.client_cpu)]
    command += ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s", "--latency"]
    command += ["-s", str(script), f"http://{LOOPBACK}:{port}{target.path}"]
    output = subprocess.run(  # noqa: S603  (wrk from PATH, our arguments)
        command, capture_output=True, text=True, check=True, timeout=duration_s + 30
    ).stdout
    return parse_wrk(output)


def _prepare_user(port: int) -> tuple[str, str]:
    """Register and log in a user, start one upload: (access token, file id)."""
    email = f"bench-{os.urandom(4).hex()}@example.com"
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    json_headers = {"Content-Type": "application/json"}
    status, _ = fetch(
        port, http_request("POST", "/v1/auth/register", headers=json_headers, body=body)
    )
    if status != 201:
        raise RuntimeError(f"register: {status}")
    form = f"username={email.replace('@', '%40')}&password={PASSWORD}".encode()
    status, response = fetch(
        port,
        http_request(
            "POST",
            "/v1/auth/token",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=form,
        ),
    )
    if status != 200:
        raise RuntimeError(f"login: {status}")
    token: str = response_json(response)["access_token"]
    status, response = fetch(
        port,
        http_request(
            "POST",
            "/v1/files",
            headers={**json_headers, "Authorization": f"Bearer {token}"},
            body=PRESIGN_BODY,
        ),
    )
    if status != 201:
        raise RuntimeError(f"presign: {status}")
    return token, str(response_json(response)["file_id"])


def _prepare_job(port: int, token: str) -> str:
    """Enqueue one job to read back (nothing runs it: it stays queued)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    status, response = fetch(
        port, http_request("POST", "/v1/jobs", headers=headers, body=ENQUEUE_BODY)
    )
    if status != 202:
        raise RuntimeError(f"enqueue: {status}")
    return str(response_json(response)["job_id"])


def app_targets(token: str, file_id: str, job_id: str) -> list[Target]:
    auth = {"Authorization": f"Bearer {token}"}
    posting = {**auth, "Content-Type": "application/json"}
    return [
        Target("health", "GET", "/health", 200, {}),
        Target("read", "GET", f"/v1/files/{file_id}", 200, auth),
        Target("job_read", "GET", f"/v1/jobs/{job_id}", 200, auth),
        Target("presign", "POST", "/v1/files", 201, posting, PRESIGN_BODY),
        Target("enqueue", "POST", "/v1/jobs", 202, posting, ENQUEUE_BODY),
    ]


def warm_load(
    stack: Stack,
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    pinning: Pinning,
    use_wrk: bool,
    step: Step = _no_step,
) -> dict[str, Scenario]:
    results: dict[str, Scenario] = {}
    options: dict[str, Any] = {
        "concurrency": concurrency,
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "pinning": pinning,
        "use_wrk": use_wrk,
    }
    baseline = Gunicorn(
        app=f"{HELLO_MODULE}:app", env={"LOG_LEVEL": "INFO"}, pinning=pinning, workdir=stack.workdir
    )
    try:
        baseline.wait_healthy()
        hello = Target("hello", "GET", "/health", 200, {})
        results["hello"] = _measure(baseline, hello, **options)
        step("warm load hello (baseline)")
    finally:
        baseline.stop()
    sessions = SessionCounter(stack.database_url)
    try:
        server = Gunicorn(app=None, env=stack.server_env(), pinning=pinning, workdir=stack.workdir)
        try:
            server.wait_healthy()
            if not stack.token:
                stack.token, stack.file_id = _prepare_user(server.port)
            stack.job_id = _prepare_job(server.port, stack.token)
            for target in app_targets(stack.token, stack.file_id, stack.job_id):
                results[target.name] = _measure(server, target, sessions=sessions, **options)
                step(f"warm load {target.name}")
        finally:
            server.stop()
        floor_env = stack.server_env()
        floor = Gunicorn(
            app=f"{FLOOR_MODULE}:app", env=floor_env, pinning=pinning, workdir=stack.workdir
        )
        try:
            floor.wait_healthy()
            read = Target("floor_read", "GET", f"/v1/files/{stack.file_id}", 200, _auth(stack))
            results["floor_read"] = _measure(floor, read, sessions=sessions, **options)
            step("warm load floor_read (same-stack floor)")
        finally:
            floor.stop()
    finally:
        sessions.close()
    base = results["hello"]
    for name, scenario in list(results.items()):
        if name != "hello":
            results[name] = _with_ratios(scenario, base, floor=results["floor_read"])
    return results


def _auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token}"}


def _with_ratios(scenario: Scenario, base: Scenario, *, floor: Scenario) -> Scenario:
    values = asdict(scenario)
    values["rps_ratio_to_baseline"] = round(scenario.rps / base.rps, 3) if base.rps else None
    values["p50_ratio_to_baseline"] = (
        round(scenario.p50_ms / base.p50_ms, 3) if base.p50_ms else None
    )
    if scenario is not floor and scenario.path.startswith("/v1/") and scenario.method == "GET":
        values["rps_ratio_to_floor"] = round(scenario.rps / floor.rps, 3) if floor.rps else None
        values["cpu_ratio_to_floor"] = (
            round(scenario.server_cpu_ms / floor.server_cpu_ms, 3) if floor.server_cpu_ms else None
        )
    return Scenario(**values)


# --- Lambda warm path -------------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaWarm:
    """Per-invoke wall time of the handler in-process (ms), Lambda's billed duration for it
    (each invoke rounded up to 1 ms, then averaged), and what it logged per invoke."""

    invokes: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    billed_ms_mean: float
    log_bytes: float
    log_events: float

    @classmethod
    def of(cls, measured: WarmSamples) -> LambdaWarm:
        samples = measured.samples_ms()
        latencies = Latencies.of(samples)
        count = latencies.count
        return cls(
            invokes=count,
            p50_ms=round(latencies.p50, 3),
            p90_ms=round(latencies.p90, 3),
            p99_ms=round(latencies.p99, 3),
            mean_ms=round(latencies.mean, 3),
            billed_ms_mean=round(sum(math.ceil(s) for s in samples) / count, 3),
            log_bytes=round(measured.log_bytes / count, 1),
            log_events=round(measured.log_lines / count, 3),
        )


def lambda_warm(
    stack: Stack,
    *,
    python: Path,
    paths: list[Path],
    invokes: int,
    warmup: int,
    pinning: Pinning,
) -> dict[str, LambdaWarm]:
    """The API handler in-process (``python`` with ``paths`` first on sys.path: the bundle
    and the runtime's boto3), against this stack, for the same endpoints as the load."""
    from bench.lambda_emulator import http_api_event

    env = {
        **stack.server_env(),
        "TARGET": "lambda",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "TridentBench",
    }
    events: dict[str, tuple[dict[str, Any], int]] = {}
    for target in app_targets(stack.token, stack.file_id, stack.job_id):
        headers = {key.lower(): value for key, value in target.headers.items()}
        event = http_api_event(target.method, target.path, headers=headers, body=target.body)
        events[target.name] = (event, target.expected_status)
    measured = invoke_warm(
        python=python,
        paths=paths,
        env=env,
        handler="handlers.api.handler",
        init="handlers.api.environment",
        events=events,
        warmup=warmup,
        invokes=invokes,
        prefix=pinning.server_prefix(),
    )
    return {name: LambdaWarm.of(samples) for name, samples in measured.items()}


def lambda_bundle(workdir: Path) -> tuple[Path, list[Path], str]:
    """The API bundle and the runtime beside it, as the emulator runs them:
    (python, sys.path entries, version)."""
    from bench.lambda_emulator import ensure_runtime
    from deployment.lambda_bundle import FUNCTIONS, build

    bundle = build(FUNCTIONS["api"], workdir / "lambda-api")
    version = subprocess.run(  # noqa: S603
        [str(bundle.python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return bundle.python, [bundle.root, ensure_runtime()], version


# --- all of it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    runs: int = 3
    concurrency: int = 16
    duration_s: float = 3.0
    warmup_s: float = 1.0
    lambda_invokes: int = 300
    lambda_warmup: int = 30
    with_lambda: bool = True
    use_wrk: bool | None = None  # None: when wrk is on PATH

    def steps(self) -> int:
        # Cold starts (app, hello, app read, floor read), hello + 5 app scenarios + the floor,
        # the Lambda warm path.
        return 4 * self.runs + 7 + (1 if self.with_lambda else 0)


def run(
    options: Options,
    *,
    step: Step = _no_step,
    database_url: str | None = None,
    aws_endpoint: str | None = None,
    lambda_runtime: tuple[Path, list[Path], str] | None = None,
) -> dict[str, Any]:
    """Everything above on one local stack; ``lambda_runtime`` (python, paths, version)
    replaces building the bundle (tests run the repo's own sources)."""
    pinning = Pinning.detect()
    use_wrk = shutil.which("wrk") is not None if options.use_wrk is None else options.use_wrk
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        workdir = Path(tmp)
        (workdir / f"{HELLO_MODULE}.py").write_text(HELLO_SOURCE)
        with (
            pinning.client_side(),
            local_stack(workdir, database_url=database_url, aws_endpoint=aws_endpoint) as stack,
        ):
            coldstart = container_coldstart(stack, runs=options.runs, pinning=pinning, step=step)
            scenarios = warm_load(
                stack,
                concurrency=options.concurrency,
                duration_s=options.duration_s,
                warmup_s=options.warmup_s,
                pinning=pinning,
                use_wrk=use_wrk,
                step=step,
            )
            warm: dict[str, LambdaWarm] = {}
            python_version = None
            if options.with_lambda:
                python, paths, python_version = lambda_runtime or lambda_bundle(workdir)
                warm = lambda_warm(
                    stack,
                    python=python,
                    paths=paths,
                    invokes=options.lambda_invokes,
                    warmup=options.lambda_warmup,
                    pinning=pinning,
                )
                step("Lambda warm path")
    return {
        "pinning": pinning.describe(),
        "generator": "wrk" if use_wrk else "in-repo asyncio generator (uvloop), keep-alive",
        "concurrency": options.concurrency,
        "duration_s": options.duration_s,
        "warmup_s": options.warmup_s,
        "gunicorn": "docker/gunicorn.conf.py, 2 Uvicorn workers, MAX_REQUESTS=0, TARGET=fargate",
        "container_coldstart": coldstart,
        "scenarios": {name: asdict(scenario) for name, scenario in scenarios.items()},
        "lambda_warm": {name: asdict(value) for name, value in warm.items()},
        "lambda_python": python_version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench load", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--runs", type=int, default=3, help="container cold starts per app")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each")
    parser.add_argument("--lambda-invokes", type=int, default=300)
    parser.add_argument("--no-lambda", action="store_true", help="skip the Lambda warm path")
    parser.add_argument("--no-wrk", action="store_true", help="the in-repo generator even with wrk")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    options = Options(
        runs=args.runs,
        concurrency=args.concurrency,
        duration_s=args.duration,
        warmup_s=args.warmup,
        lambda_invokes=args.lambda_invokes,
        with_lambda=not args.no_lambda,
        use_wrk=False if args.no_wrk else None,
    )
    result = run(options)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        sys.stdout.write(render_text(result) + "\n")
    return 0


def render_text(result: dict[str, Any]) -> str:
    lines = [f"pinning: {result['pinning']}; generator: {result['generator']}"]
    cold = result["container_coldstart"]
    lines.append(
        f"container cold start: app {cold['app']['median_ms']} ms, "
        f"baseline {cold['baseline']['median_ms']} ms ({cold['ratio']}x); every worker's "
        f"first read: app {cold['app_read']['median_ms']} ms, floor "
        f"{cold['floor_read']['median_ms']} ms ({cold['read_ratio']}x)"
    )
    lines.append(f"{'scenario':10} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/req':>11}")
    for name, s in result["scenarios"].items():
        lines.append(
            f"{name:10} {s['rps']:>9} {s['p50_ms']:>8} {s['p99_ms']:>8} {s['server_cpu_ms']:>11}"
        )
    for name, w in result["lambda_warm"].items():
        lines.append(f"lambda {name:10} p50 {w['p50_ms']} ms, billed {w['billed_ms_mean']} ms")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
