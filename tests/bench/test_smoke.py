"""``python -m bench smoke`` against the local stack: the API and the worker as ``make dev``
runs them (child processes), then the same with the worker stopped."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.local.aws import free_port
from app.local.stack import LocalStack, local_stack, stop_process, wait_for_port
from bench import smoke
from tests.files.conftest import s3_client

pytestmark = pytest.mark.subprocess

JOURNEY = [
    "health",
    "ready",
    "register",
    "token",
    "me",
    "presign",
    "cors-preflight",
    "upload",
    "ingest",
    "download",
    "export",
    "export-download",
    "delete-file",
    "delete-user",
]


@pytest.fixture
def running(
    clone_database: Callable[[], str], moto_endpoint: str, tmp_path: Path
) -> Iterator[tuple[str, LocalStack]]:
    port = free_port()
    suffix = uuid.uuid4().hex[:10]
    with local_stack(
        pgdata=tmp_path / "pg",
        database_url_given=clone_database(),
        aws_endpoint_given=moto_endpoint,
        bucket=f"trident-smoke-{suffix}",
        queue=f"jobs-smoke-{suffix}",
        cors_origins=[f"http://127.0.0.1:{port}"],
        api_port=port,
        worker=True,
        # Cheap hashes and a short poll keep the run short; the bucket S3_BUCKET names.
        child_env={
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "1024",
            "ARGON2_PARALLELISM": "1",
            "WORKER_POLL_WAIT_S": "1",
            "LOG_LEVEL": "WARNING",
        },
    ) as stack:
        wait_for_port(port, process=stack.children[0], within_s=60)
        yield f"http://127.0.0.1:{port}", stack


def test_smoke_passes_and_names_the_ingest_step_when_the_worker_is_stopped(
    running: tuple[str, LocalStack], capsys: pytest.CaptureFixture[str]
) -> None:
    url, stack = running
    assert smoke.main(["--url", url, "--json", "--timeout", "90"]) == 0, capsys.readouterr()
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (report["ok"], report["failed_step"]) == (True, None), report
    assert [step["name"] for step in report["steps"]] == JOURNEY
    assert all(step["ok"] and step["ms"] >= 0 for step in report["steps"])
    assert "works" in err
    # Nothing left behind: the upload, its verified copy and the export all went.
    s3 = s3_client(stack.aws.endpoint_url)
    assert s3.list_objects_v2(Bucket=stack.aws.bucket).get("KeyCount") == 0

    stop_process(stack.children[1])  # the worker
    assert smoke.main(["--url", url, "--timeout", "6"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[-2:]] == [
        ["FAIL", "ingest"],
        ["ok", "cleanup-delete-user"],
    ], out
    assert "still pending" in lines[-2]
    assert "is a worker running" in lines[-2]
    assert "FAILED at step 'ingest'" in err
