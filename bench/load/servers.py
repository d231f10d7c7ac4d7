"""Server control: where each side runs (CPU pinning with taskset) and Gunicorn as the
containers run it, started, waited for, measured (CPU time, log volume) and stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.local.stack import stop_process
from bench.load.wire import LOOPBACK, exchange, fetch, http_request
from deployment.lockfile import REPO

GUNICORN_CONF = REPO / "docker" / "gunicorn.conf.py"


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
        return _taskset(self.server_cpu)

    def client_prefix(self) -> list[str]:
        return _taskset(self.client_cpu)

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


def _taskset(cpu: int | None) -> list[str]:
    return [] if cpu is None else ["taskset", "-c", str(cpu)]


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
