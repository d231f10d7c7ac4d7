"""bench/worker_jobs.py: real jobs through the worker process on the real local stack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench import worker_jobs
from bench.worker_jobs import measure_jobs

pytestmark = pytest.mark.subprocess


def test_an_ingest_and_an_export_are_timed_and_their_worker_cpu_counted(
    clone_database: Callable[[str | None], str], moto_endpoint: str, tmp_path: Path
) -> None:
    runs = measure_jobs(
        database_url=clone_database(None),
        aws_endpoint=moto_endpoint,
        workdir=tmp_path,
        ingests=2,
        exports=1,
    )
    assert list(runs) == ["ingest", "export"]
    assert (runs["ingest"].jobs, runs["ingest"].what) == (2, "1024 KiB upload")
    assert (runs["export"].jobs, runs["export"].what) == (1, "100 files")
    for run in runs.values():
        assert 0 < run.duration_ms_p50 <= run.duration_ms_max
        assert run.duration_ms_mean <= run.duration_ms_max
        assert run.cpu_ms_mean >= 0
    # The worker's CPU counts in 10 ms ticks: three jobs' worth is more than none.
    assert runs["ingest"].cpu_ms_mean + runs["export"].cpu_ms_mean > 0


def test_jobs_that_did_not_do_their_work_fail_the_measurement(
    clone_database: Callable[[str | None], str],
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not UTF-8: ingest rejects the upload instead of making it ready.
    monkeypatch.setattr(worker_jobs, "UPLOAD_CONTENT", b"\xff" * worker_jobs.UPLOAD_BYTES)
    with pytest.raises(RuntimeError, match="1 of 1 jobs did not do their work"):
        measure_jobs(
            database_url=clone_database(None),
            aws_endpoint=moto_endpoint,
            workdir=tmp_path,
            ingests=1,
            exports=1,
        )
