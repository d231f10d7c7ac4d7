"""The container worker (Fargate, EC2, and ``make dev``), started by ``python -m app.worker``.

Long-polls SQS, runs up to WORKER_CONCURRENCY jobs at once, sweeps and checks the DLQ
periodically. On SIGTERM it stops receiving, gives in-flight jobs WORKER_SHUTDOWN_GRACE_S
to finish, hands back the rest (their messages reappear), and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

from app.aws import Duty, performs
from app.config import Settings
from app.jobs import dlq
from app.jobs.periodic import PeriodicTasks
from app.jobs.queue import Message, Queue
from app.jobs.runner import process_message, settle, sweep
from app.jobs.runtime import JobRuntime

logger = logging.getLogger("app.jobs.worker")


class Worker:
    def __init__(self, runtime: JobRuntime, *, wait_s: int | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.queue = Queue(runtime.aws, self.settings.jobs.require_queue_url())
        self.wait_s = self.settings.jobs.worker_poll_wait_s if wait_s is None else wait_s
        # Two leases (120 s by default, the queue's timeout before it had to be six times the
        # Lambda jobs function's): room for a message fetched ahead to wait for a slot.
        self.receive_hide_s = min(
            2 * self.settings.jobs.lease_s, self.settings.jobs.visibility_timeout_s
        )
        self.slots = asyncio.Semaphore(self.settings.jobs.worker_concurrency)
        self.in_flight: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.processed = 0
        self.periodic = PeriodicTasks(runtime)

    async def _take_slot(self, message: Message) -> None:
        async with self.slots:
            if self.stopping:
                # Received but never started: give it straight back.
                await self.queue.set_visibility(message.receipt_handle, 0)
                return
            await self.handle(message)

    @performs(Duty.RUN_JOBS)
    async def handle(self, message: Message) -> None:
        async def extend(seconds: int) -> None:
            await self.queue.set_visibility(message.receipt_handle, seconds)

        try:
            decision = await process_message(
                self.runtime,
                body=message.body,
                receive_count=message.receive_count,
                extend_visibility=extend,
            )
        except asyncio.CancelledError:
            # Handed back by the runner: let the message reappear now rather than later.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.queue.set_visibility(message.receipt_handle, 0))
            raise
        except Exception:
            # Infrastructure trouble (database, SQS): the message reappears and is retried.
            logger.exception("could not process message", extra={"message_id": message.message_id})
            return
        await settle(
            self.runtime,
            self.queue,
            decision,
            body=message.body,
            receipt_handle=message.receipt_handle,
            delete=True,
        )
        self.processed += 1

    async def _housekeeping(self) -> None:
        try:
            await sweep(self.runtime)
            if self.settings.jobs.dlq_url:
                await dlq.check(self.runtime)
        except Exception:
            logger.warning("housekeeping failed", exc_info=True)
        await self.periodic.run_due()  # each task logs its own failures

    @performs(Duty.RECEIVE_JOBS)
    async def run(self, stop: asyncio.Event) -> None:
        concurrency = self.settings.jobs.worker_concurrency
        next_housekeeping = time.monotonic()
        stop_wait = asyncio.create_task(stop.wait())
        receive: asyncio.Task[list[Message]] | None = None
        try:
            while not stop.is_set():
                if time.monotonic() >= next_housekeeping:
                    await self._housekeeping()
                    next_housekeeping = time.monotonic() + self.settings.jobs.sweep_interval_s
                if len(self.in_flight) >= concurrency:
                    await asyncio.wait(
                        {*self.in_flight, stop_wait}, return_when=asyncio.FIRST_COMPLETED
                    )
                    continue
                # Ask for up to one slot-load ahead, so each receive brings several
                # messages, but never so many that they wait out their visibility here.
                wanted = min(10, 2 * concurrency - len(self.in_flight))
                # Hidden for two leases, not the queue's visibility timeout (six times the Lambda
                # jobs function's): a worker that dies before its first beat hands work back soon.
                receive = asyncio.create_task(
                    self.queue.receive(
                        max_messages=wanted, wait_s=self.wait_s, visibility_s=self.receive_hide_s
                    )
                )
                await asyncio.wait({receive, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if not receive.done():
                    break
                try:
                    messages = receive.result()
                except Exception:
                    logger.warning("receive failed; backing off", exc_info=True)
                    await asyncio.wait({stop_wait}, timeout=1)
                    continue
                finally:
                    receive = None
                for message in messages:
                    task = asyncio.create_task(self._take_slot(message))
                    self.in_flight.add(task)
                    task.add_done_callback(self.in_flight.discard)
        finally:
            stop_wait.cancel()
            await self._drain(receive)

    async def _drain(self, receive: asyncio.Task[list[Message]] | None) -> None:
        self.stopping = True
        if self.in_flight:
            logger.info("stopping: finishing in-flight jobs", extra={"count": len(self.in_flight)})
            _, late = await asyncio.wait(
                self.in_flight, timeout=self.settings.jobs.worker_shutdown_grace_s
            )
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if receive is not None:
            # A long poll still open: whatever it brings goes straight back.
            with contextlib.suppress(Exception):
                for message in await asyncio.wait_for(receive, self.wait_s + 5):
                    await self.queue.set_visibility(message.receipt_handle, 0)


async def serve(settings: Settings) -> None:
    runtime = JobRuntime.from_settings(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    logger.info("worker started", extra={"concurrency": settings.jobs.worker_concurrency})
    try:
        await Worker(runtime).run(stop)
    finally:
        await runtime.close()
        logger.info("worker stopped")
