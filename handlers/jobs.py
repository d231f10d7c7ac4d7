"""Lambda SQS handler: ``handlers.jobs.handler`` (event source with ReportBatchItemFailures).

Only the ids of messages that must come back are reported; everything else is deleted by
Lambda. ``handlers.jobs.housekeeping`` runs the sweep, the DLQ check and the registered
periodic tasks (each at most once per its interval in a warm environment) on a schedule.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from app.aws import Duty, performs
from app.config import load_settings
from app.domains import compose
from app.jobs import dlq
from app.jobs.periodic import PeriodicTasks
from app.jobs.queue import Queue
from app.jobs.runner import process_message, settle, sweep
from app.jobs.runtime import JobRuntime
from app.observability import configure_logging
from handlers import invocation

processor = BatchProcessor(event_type=EventType.SQS)


class RetryLater(Exception):
    """Reported as a batch item failure: SQS makes the message visible again."""


class _Environment:
    """Created once per execution environment: the loop the engine's connections live on."""

    def __init__(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        compose()
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.runtime = JobRuntime.from_settings(settings)
        self.queue = Queue(self.runtime.aws, settings.jobs.require_queue_url())
        self.periodic = PeriodicTasks(self.runtime)


_environment: _Environment | None = None


def environment() -> _Environment:
    global _environment
    if _environment is None:
        _environment = _Environment()
    return _environment


@performs(Duty.RUN_JOBS)
async def _process(env: _Environment, record: SQSRecord) -> bool:
    """True when the message must come back."""

    async def extend(seconds: int) -> None:
        await env.queue.set_visibility(record.receipt_handle, seconds)

    decision = await process_message(
        env.runtime,
        body=record.body,
        receive_count=int(record.attributes.approximate_receive_count),
        extend_visibility=extend,
    )
    return await settle(
        env.runtime,
        env.queue,
        decision,
        body=record.body,
        receipt_handle=record.receipt_handle,
        delete=False,  # the event source deletes what the batch response does not name
    )


def record_handler(record: SQSRecord) -> None:
    env = environment()
    if env.loop.run_until_complete(_process(env, record)):
        raise RetryLater(f"message {record.message_id} comes back")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation(context):
        environment()  # logging configured before the batch processor's first line
        response: dict[str, Any] = process_partial_response(  # type: ignore[assignment]
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    return response


async def _housekeeping(env: _Environment) -> dict[str, Any]:
    resent = await sweep(env.runtime)
    report = await dlq.check(env.runtime) if env.runtime.settings.jobs.dlq_url else None
    return {
        "resent": resent,
        "dead_lettered": report.jobs if report else 0,
        # As in the container worker's housekeeping: abandoned uploads expire here on Lambda.
        "tasks": await env.periodic.run_due(),  # each task logs its own failures
    }


def housekeeping(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation(context):
        env = environment()
        return env.loop.run_until_complete(_housekeeping(env))
