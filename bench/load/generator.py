"""The in-repo load generator, for machines without wrk: closed-loop keep-alive connections
on asyncio (uvloop), each sending its request as soon as the previous answer is in; bounded
in count and time, 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from bench.load.wire import LOOPBACK, parse_response
from bench.stats import Latencies

# A bound on one scenario's requests, far above what its window holds here.
MAX_REQUESTS_PER_SCENARIO = 200_000


@dataclass
class Tally:
    latencies_ns: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    received: int = 0
    reconnects: int = 0

    def stats(self, elapsed_s: float, expected_status: int) -> dict[str, float]:
        """The figures ``bench.load.wrk.parse_wrk`` reads from wrk, from this run."""
        latencies = Latencies.of(ns / 1e6 for ns in self.latencies_ns)
        wrong = sum(n for code, n in self.statuses.items() if code != expected_status)
        return {
            "requests": float(latencies.count),
            "errors": float(wrong + self.errors),
            "rps": latencies.count / elapsed_s,
            "p50_ms": latencies.p50,
            "p90_ms": latencies.p90,
            "p99_ms": latencies.p99,
            "mean_ms": latencies.mean,
            "bytes_read": float(self.received),
        }


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
        self.tally = Tally()

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
) -> tuple[Tally, float]:
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
    port: int, request: bytes, *, concurrency: int, duration_s: float
) -> tuple[Tally, float]:
    """Closed-loop load: ``concurrency`` connections, each sending ``request`` as soon as
    the previous answer is in, until ``duration_s`` or ``MAX_REQUESTS_PER_SCENARIO``;
    127.0.0.1 only. Returns the tally and the seconds it took."""
    try:
        import uvloop

        runner: Callable[..., Any] = uvloop.run
    except ImportError:  # pragma: no cover  (uvicorn[standard] brings it)
        runner = asyncio.run
    result: tuple[Tally, float] = runner(
        _drive(
            port,
            request,
            concurrency=concurrency,
            duration_s=duration_s,
            max_requests=MAX_REQUESTS_PER_SCENARIO,
        )
    )
    return result
