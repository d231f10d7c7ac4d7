"""Real jobs, measured: the ``ingest`` of a 1 MiB upload and the ``export`` of 100 files, run by
the container worker (``python -m app.worker``, a process of its own) on the local stack.

Each upload is made as the browser makes it: ``POST /v1/files`` through the app (in-process
here), then the file POSTed to moto with the presigned form; moto sends the bucket's upload
event to the jobs queue, and the worker verifies the object and copies it to its ready key.
Each export is ``POST /v1/jobs`` by a user holding 100 ready files.

Per kind: the wall time of each job from its claim to its recorded result (``started_at`` and
``finished_at`` of the jobs table), one job at a time (``WORKER_CONCURRENCY=1``, as a Lambda
batch runs its records), and the worker process's CPU time (user + system, receive to delete)
divided by the jobs. The worker is stopped (SIGSTOP) while the bench prepares a kind's jobs, so
that work neither competes with it nor counts as its; one ingest and one export first warm it
(clients, imports, the start-up housekeeping), unmeasured.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import text

if TYPE_CHECKING:
    from app.config import Settings
    from app.db import Database
    from app.local.aws import LocalAws

UPLOAD_BYTES = 1024 * 1024
EXPORT_FILES = 100
# 1 MiB of UTF-8 text: every byte goes through the text check as well as the hash.
UPLOAD_CONTENT = (b"x" * 63 + b"\n") * (UPLOAD_BYTES // 64)
PASSWORD = "bench-password-not-a-secret"  # noqa: S105  (a throwaway local user)
JWT_KEYS = {"bench": "b" * 48}
WAIT_S = 120.0


@dataclass(frozen=True)
class JobRun:
    """One kind's measured jobs: wall ms per job (claim to result) and worker CPU ms per job
    (the process's, in the kernel's 10 ms ticks: 20 jobs make it 0.5 ms a job)."""

    jobs: int
    what: str
    duration_ms_mean: float
    duration_ms_p50: float
    duration_ms_max: float
    cpu_ms_mean: float


def _app_settings(database_url: str, endpoint: str, local: LocalAws) -> Settings:
    from app.config import load_settings

    return load_settings(
        target="local",
        database_url=database_url,
        aws_endpoint_url=endpoint,
        s3_bucket=local.bucket,
        jobs_queue_url=local.jobs_queue_url,
        jobs_dlq_url=local.dead_letter_queue_url,
        jwt_signing_keys=json.dumps(JWT_KEYS),
        jwt_active_kid="bench",
        files_presign_max_per_window=1_000_000_000,
        argon2_time_cost=1,
        argon2_memory_cost_kib=8192,
        argon2_parallelism=1,
        migrate_on_startup=False,
        log_level="WARNING",
    )


def _worker_env(database_url: str, local: LocalAws, workdir: Path) -> dict[str, str]:
    """The Fargate worker's sizes (deployment/sizes.py), one job at a time, on this stack."""
    from deployment.settings import DeploySettings
    from deployment.sizes import sized_env

    return {
        **os.environ,
        **sized_env(DeploySettings(), "fargate-worker"),
        "TARGET": "fargate",
        "DATABASE_URL": database_url,
        "DB_SSLMODE": "disable",  # a Unix socket here; TLS to RDS on AWS
        "AWS_ENDPOINT_URL": local.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "S3_BUCKET": local.bucket,
        "JOBS_QUEUE_URL": local.jobs_queue_url,
        "JOBS_DLQ_URL": local.dead_letter_queue_url,
        "JOBS_SWEEP_INTERVAL_S": "3600",  # housekeeping once, during the warm-up
        "WORKER_CONCURRENCY": "1",
        "WORKER_POLL_WAIT_S": "1",  # a short last poll when stopping
        "DATA_DIR": str(workdir / "data"),
        "LOG_LEVEL": "INFO",  # production's level: its log lines are part of the CPU
    }


class Bench:
    """The app in-process (to presign and submit as a client would) and the worker's process."""

    def __init__(
        self, client: httpx.AsyncClient, db: Database, worker: subprocess.Popen[bytes]
    ) -> None:
        self.client = client
        self.db = db
        self.worker = worker

    async def user(self) -> tuple[dict[str, str], uuid.UUID]:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        response = await self.client.post(
            "/v1/auth/register", json={"email": email, "password": PASSWORD}
        )
        response.raise_for_status()
        user_id = uuid.UUID(response.json()["id"])
        response = await self.client.post(
            "/v1/auth/token", data={"username": email, "password": PASSWORD}
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}, user_id

    async def upload(self, headers: dict[str, str]) -> str:
        """What the upload page does: presign, then POST every field and the file to S3."""
        response = await self.client.post(
            "/v1/files",
            json={"filename": "bench.txt", "content_type": "text/plain", "size": UPLOAD_BYTES},
            headers=headers,
        )
        response.raise_for_status()
        body = response.json()
        async with httpx.AsyncClient() as s3:
            posted = await s3.post(
                body["upload"]["url"],
                data=body["upload"]["fields"],
                files={"file": ("bench.txt", UPLOAD_CONTENT, "text/plain")},
            )
        posted.raise_for_status()
        return str(body["file_id"])

    async def export(self, headers: dict[str, str]) -> str:
        response = await self.client.post(
            "/v1/jobs", json={"kind": "export", "input": {}}, headers=headers
        )
        response.raise_for_status()
        return str(response.json()["job_id"])

    async def ready_files(self, user_id: uuid.UUID, count: int) -> None:
        """``count`` ready files for the export to list (rows only: it reads no object)."""
        async with self.db.side_transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO files (id, user_id, filename, content_type, size, status,"
                    " sha256, ready_at, upload_expires_at)"
                    " SELECT gen_random_uuid(), :user_id, 'file-' || n || '.txt', 'text/plain',"
                    " :size, 'ready', repeat('0', 64), now(), now()"
                    " FROM generate_series(1, :count) AS n"
                ),
                {"user_id": user_id, "size": UPLOAD_BYTES, "count": count},
            )

    async def finished(self, kind: str, ids: list[str]) -> list[tuple[str, float, Any]]:
        """(status, ms from claim to result, result) of the finished jobs of ``ids``."""
        async with self.db.autocommit() as connection:
            rows = await connection.execute(FINISHED[kind], {"ids": ids})
        return [(str(status), float(ms), result) for status, ms, result in rows]

    async def wait(self, kind: str, ids: list[str]) -> list[tuple[str, float, Any]]:
        deadline = time.monotonic() + WAIT_S
        while len(done := await self.finished(kind, ids)) < len(ids):
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{len(done)} of {len(ids)} {kind} jobs finished")
            await asyncio.sleep(0.02)
        return done

    def cpu_s(self) -> float:
        import psutil

        times = psutil.Process(self.worker.pid).cpu_times()
        return float(times.user + times.system)

    @contextmanager
    def paused(self) -> Iterator[None]:
        self.worker.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.worker.send_signal(signal.SIGCONT)


_FINISHED = (
    "SELECT status, extract(epoch FROM finished_at - started_at) * 1000, result FROM jobs"
    " WHERE status IN ('succeeded', 'failed', 'dead') AND "
)
# Each kind's finished jobs, by the ids the bench knows (an upload's file, an export's job).
FINISHED = {
    "ingest": text(_FINISHED + "kind = 'ingest' AND input->>'file_id' = ANY(:ids)"),
    "export": text(_FINISHED + "CAST(id AS text) = ANY(:ids)"),
}
# What a job must have done.
DID_ITS_WORK: dict[str, Callable[[Any], bool]] = {
    "ingest": lambda result: result["status"] == "ready",
    "export": lambda result: result["rows"] == EXPORT_FILES,
}


async def _measure(
    bench: Bench, kind: str, count: int, make: Callable[[], Awaitable[str]]
) -> JobRun:
    check = DID_ITS_WORK[kind]
    with bench.paused():
        ids = [await make() for _ in range(count)]
        cpu_before = bench.cpu_s()
    done = await bench.wait(kind, ids)
    # The last message's delete follows its result: let it land before reading the CPU.
    await asyncio.sleep(0.3)
    cpu = bench.cpu_s() - cpu_before
    bad = [
        (status, result) for status, _, result in done if status != "succeeded" or not check(result)
    ]
    if bad:
        raise RuntimeError(f"{kind}: {len(bad)} of {count} jobs did not do their work: {bad[:3]}")
    durations = [ms for _, ms, _ in done]
    what = f"{UPLOAD_BYTES // 1024} KiB upload" if kind == "ingest" else f"{EXPORT_FILES} files"
    return JobRun(
        jobs=count,
        what=what,
        duration_ms_mean=round(statistics.fmean(durations), 2),
        duration_ms_p50=round(statistics.median(durations), 2),
        duration_ms_max=round(max(durations), 2),
        cpu_ms_mean=round(cpu * 1000 / count, 2),
    )


async def _run(
    settings: Settings, worker: subprocess.Popen[bytes], *, ingests: int, exports: int
) -> dict[str, JobRun]:
    from app.main import build_app

    app = build_app(settings)  # no logging set up: the bench's stdout stays its own
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            bench = Bench(client, app.state.resources.db, worker)
            uploader, _ = await bench.user()
            exporter, exporter_id = await bench.user()
            await bench.ready_files(exporter_id, EXPORT_FILES)
            # Warm-up, unmeasured: the worker's clients, imports and start-up housekeeping.
            await bench.wait("ingest", [await bench.upload(uploader)])
            await bench.wait("export", [await bench.export(exporter)])
            return {
                "ingest": await _measure(bench, "ingest", ingests, lambda: bench.upload(uploader)),
                "export": await _measure(bench, "export", exports, lambda: bench.export(exporter)),
            }
    finally:
        await app.state.resources.close()


def measure_jobs(
    *, database_url: str, aws_endpoint: str, workdir: Path, ingests: int, exports: int
) -> dict[str, JobRun]:
    """``ingests`` uploads and ``exports`` exports through the worker, on a bucket and queue
    of their own (the bucket sends its upload events to the queue, as deployed)."""
    from app.local.aws import provision
    from app.local.stack import stop_process
    from deployment.lockfile import REPO

    suffix = uuid.uuid4().hex[:8]
    local = provision(
        aws_endpoint,
        region="us-east-1",
        bucket=f"bench-jobs-{suffix}",
        queue=f"bench-jobs-{suffix}",
        visibility_timeout_s=720,  # deployed: no message reappears while the worker is stopped
    )
    settings = _app_settings(database_url, aws_endpoint, local)
    log = workdir / f"worker-jobs-{suffix}.log"
    with log.open("wb") as output:
        # Through the child runner: it stops by itself if the bench is ever killed outright.
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.local.child", "worker"],
            env=_worker_env(database_url, local, workdir),
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        return asyncio.run(_run(settings, worker, ingests=ingests, exports=exports))
    except Exception as exc:
        raise RuntimeError(f"{exc}; the worker's log:\n{log.read_text()[-3000:]}") from exc
    finally:
        stop_process(worker)
