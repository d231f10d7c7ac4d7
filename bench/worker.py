"""Worker throughput against a raw boto3 receive/delete loop, same queue server, same run;
then real jobs through the worker process (``bench.worker_jobs``).

    python -m bench worker [--messages 400] [--ingests 20] [--exports 10] [--quick] [--json]

Both sides drain the same number of messages from a fresh moto SQS queue; the worker also
claims, runs (a zero-second ``sleep`` job) and records each job in PostgreSQL. Reported:
messages/s for each and the ratio (raw ÷ worker: the worker's overhead factor). Then
``jobs[kind]`` for ``ingest`` (a 1 MiB upload) and ``export`` (100 files): wall ms per job
from claim to result, and the worker process's CPU ms per job (see ``JobRun``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.worker_jobs import JobRun, measure_jobs

# --quick (and `make bench-smoke`): messages, rounds, ingests, exports.
QUICK = (20, 1, 3, 2)


@dataclass(frozen=True)
class WorkerBench:
    messages: int
    concurrency: int
    raw_msgs_per_s: float
    worker_msgs_per_s: float
    ratio: float
    rounds: int
    jobs: dict[str, JobRun] | None = None


def _raw_drain(sqs: Any, queue_url: str, total: int, concurrency: int) -> float:
    """The baseline: receive up to 10, delete each (``concurrency`` deletes at a time)."""
    done = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        while done < total:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=min(10, concurrency), WaitTimeSeconds=1
            ).get("Messages", [])
            list(
                pool.map(
                    lambda m: sqs.delete_message(
                        QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"]
                    ),
                    messages,
                )
            )
            done += len(messages)
    return total / (time.perf_counter() - started)


def _send_all(sqs: Any, queue_url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": body}
                for i, body in enumerate(bodies[start : start + 10])
            ],
        )


async def _worker_drain(settings: Any, total: int) -> float:
    from app.domains import compose
    from app.jobs.queue import job_message
    from app.jobs.runtime import JobRuntime
    from app.jobs.worker import Worker

    compose()
    runtime = JobRuntime.from_settings(settings)
    try:
        job_ids = [uuid.uuid4() for _ in range(total)]
        async with runtime.db.side_transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO jobs (id, kind, input, status, attempts) "
                    "SELECT id, 'sleep', '{\"seconds\": 0}', 'queued', 0"
                    " FROM unnest(CAST(:ids AS uuid[])) AS id"
                ),
                {"ids": job_ids},
            )
        _send_all(runtime.aws.sqs, settings.jobs.queue_url, [job_message(j) for j in job_ids])
        stop = asyncio.Event()
        worker = Worker(runtime, wait_s=1)
        started = time.perf_counter()
        run = asyncio.create_task(worker.run(stop))
        # Done when every job is recorded, not when as many messages were handled: SQS may
        # deliver a message twice, and a duplicate is handled without being a job done. The
        # cheap counter first, so polling the database does not slow the run it measures.
        while worker.processed < total or await _finished(runtime, job_ids) < total:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        stop.set()
        await run
        async with runtime.db.sessions() as session:
            succeeded = await session.scalar(
                text(
                    "SELECT count(*) FROM jobs WHERE id = ANY(CAST(:ids AS uuid[]))"
                    " AND status = 'succeeded' AND attempts = 1"
                ),
                {"ids": job_ids},
            )
        if succeeded != total:
            async with runtime.db.sessions() as session:
                rows = (
                    await session.execute(
                        text(
                            "SELECT status, attempts, error, count(*) FROM jobs"
                            " WHERE id = ANY(CAST(:ids AS uuid[])) GROUP BY 1, 2, 3"
                        ),
                        {"ids": job_ids},
                    )
                ).all()
            raise AssertionError(f"{succeeded} of {total} jobs succeeded exactly once: {rows}")
        return total / elapsed
    finally:
        await runtime.close()


async def _finished(runtime: Any, job_ids: list[uuid.UUID]) -> int:
    async with runtime.db.autocommit() as connection:
        count: int = await connection.scalar(
            text(
                "SELECT count(*) FROM jobs WHERE id = ANY(CAST(:ids AS uuid[]))"
                " AND status IN ('succeeded', 'failed', 'dead')"
            ),
            {"ids": job_ids},
        )
    return count


def run(
    *, messages: int, concurrency: int, rounds: int, ingests: int = 0, exports: int = 0
) -> WorkerBench:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    from app.config import load_settings
    from app.local.aws import provision
    from app.local.postgres import database_url
    from app.local.stack import moto_server, postgres
    from app.migrations import upgrade_head

    with tempfile.TemporaryDirectory(prefix="trident-bench-") as tmp:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(tmp) / "run"))
        # SQS in its own process, as in the cloud: its CPU is not the worker's GIL.
        with postgres(Path(tmp) / "pg") as server, moto_server() as endpoint:
            url = database_url(server)
            upgrade_head(url)
            raw_rates: list[float] = []
            worker_rates: list[float] = []
            for round_no in range(rounds):
                # Alternate the order so neither side always runs on a warmer server.
                for side in ("raw", "worker") if round_no % 2 == 0 else ("worker", "raw"):
                    local = provision(
                        endpoint,
                        region="us-east-1",
                        bucket="bench",
                        queue=f"bench-{side}-{round_no}",
                        visibility_timeout_s=60,
                    )
                    settings = load_settings(
                        target="local",
                        database_url=url,
                        aws_endpoint_url=endpoint,
                        jobs_queue_url=local.jobs_queue_url,
                        jobs_dlq_url=local.dead_letter_queue_url,
                        s3_bucket=local.bucket,  # the worker's periodic files cleanup lists it
                        worker_concurrency=concurrency,
                        log_level="WARNING",
                    )
                    if side == "raw":
                        from app.aws import AwsClients

                        sqs = AwsClients(settings).sqs
                        _send_all(sqs, local.jobs_queue_url, ["{}"] * messages)
                        raw_rates.append(
                            _raw_drain(sqs, local.jobs_queue_url, messages, concurrency)
                        )
                    else:
                        worker_rates.append(asyncio.run(_worker_drain(settings, messages)))
            jobs = None
            if ingests and exports:
                jobs = measure_jobs(
                    database_url=url,
                    aws_endpoint=endpoint,
                    workdir=Path(tmp),
                    ingests=ingests,
                    exports=exports,
                )
    raw = statistics.median(raw_rates)
    worker = statistics.median(worker_rates)
    return WorkerBench(
        messages=messages,
        concurrency=concurrency,
        raw_msgs_per_s=round(raw, 1),
        worker_msgs_per_s=round(worker, 1),
        ratio=round(raw / worker, 3),
        rounds=rounds,
        jobs=jobs,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ingests", type=int, default=20, help="1 MiB uploads ingested")
    parser.add_argument("--exports", type=int, default=10, help="exports of 100 files")
    parser.add_argument("--quick", action="store_true", help="a smoke run: as short as it goes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.rounds, args.ingests, args.exports = QUICK
    result = run(
        messages=args.messages,
        concurrency=args.concurrency,
        rounds=args.rounds,
        ingests=args.ingests,
        exports=args.exports,
    )
    if args.json:
        print(json.dumps(asdict(result)))  # noqa: T201
    else:
        print(  # noqa: T201
            f"raw boto3 loop {result.raw_msgs_per_s} msg/s, worker {result.worker_msgs_per_s}"
            f" msg/s, overhead {result.ratio}x ({result.messages} messages,"
            f" concurrency {result.concurrency}, median of {result.rounds})"
        )
        for kind, job in (result.jobs or {}).items():
            print(  # noqa: T201
                f"{kind} ({job.what}): {job.duration_ms_mean} ms a job (p50"
                f" {job.duration_ms_p50}, max {job.duration_ms_max}), worker CPU"
                f" {job.cpu_ms_mean} ms a job ({job.jobs} jobs, one at a time)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
