"""Lambda SQS handler: ``handlers.jobs.handler`` (event source with ReportBatchItemFailures).

Only the ids of messages that must come back are reported; everything else is deleted by
Lambda. ``handlers.jobs.housekeeping`` runs the sweep, the DLQ check and the files cleanup
(at most once per FILES_CLEANUP_INTERVAL_S in a warm environment) on a schedule.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from app.aws import Duty, performs
from app.config import load_settings
from app.jobs import dlq
from app.jobs.queue import Queue
from app.jobs.runner import JobRuntime, Outcome, process_message, sweep
from app.observability import configure_logging

if TYPE_CHECKING:
    from app.files.cleanup import PeriodicCleanup

processor = BatchProcessor(event_type=EventType.SQS)


class RetryLater(Exception):
    """Reported as a batch item failure: SQS makes the message visible again."""


class _Environment:
    """Created once per execution environment: the loop the engine's connections live on."""

    def __init__(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.runtime = JobRuntime.from_settings(settings)
        self.queue = Queue(self.runtime.aws, settings.require_queue_url())
        # Made by the housekeeping entry only: the SQS consumer's cold start need not import
        # the files cleanup (about 0.4 s of imports, FastAPI's among them).
        self.files_cleanup: PeriodicCleanup | None = None


_environment: _Environment | None = None


def environment() -> _Environment:
    global _environment
    if _environment is None:
        _environment = _Environment()
    return _environment


@performs(Duty.RUN_JOBS)
async def _process(env: _Environment, record: SQSRecord) -> Outcome:
    async def extend(seconds: int) -> None:
        await env.queue.set_visibility(record.receipt_handle, seconds)

    decision = await process_message(
        env.runtime,
        body=record.body,
        receive_count=int(record.attributes.approximate_receive_count),
        extend_visibility=extend,
    )
    if decision.outcome is Outcome.POISON:
        await dlq.park_poison(env.runtime, record.body)
    elif decision.outcome is Outcome.BUSY:
        await extend(decision.hide_for_s)
    return decision.outcome


def record_handler(record: SQSRecord) -> None:
    env = environment()
    outcome = env.loop.run_until_complete(_process(env, record))
    if outcome in (Outcome.RETRY, Outcome.BUSY):
        raise RetryLater(f"message {record.message_id}: {outcome}")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = process_partial_response(  # type: ignore[assignment]
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return response


async def _housekeeping(env: _Environment) -> dict[str, Any]:
    resent = await sweep(env.runtime)
    report = await dlq.check(env.runtime) if env.runtime.settings.jobs_dlq_url else None
    if env.files_cleanup is None:
        from app.files.cleanup import PeriodicCleanup

        # Abandoned uploads expire here on Lambda, as in the container worker's housekeeping.
        env.files_cleanup = PeriodicCleanup(env.runtime)
    cleaned = await env.files_cleanup.maybe_run()  # logs its own failures
    return {
        "resent": resent,
        "dead_lettered": report.jobs if report else 0,
        "files_expired": cleaned.expired if cleaned else 0,
        "files_purged": cleaned.purged if cleaned else 0,
    }


def housekeeping(event: dict[str, Any], context: Any) -> dict[str, Any]:
    env = environment()
    return env.loop.run_until_complete(_housekeeping(env))
