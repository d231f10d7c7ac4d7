"""One endpoint under load on a running server: warm-up, then wrk or the in-repo generator
for the window, with the server's CPU time, its log volume and the database connections it
opened read around it."""

from __future__ import annotations

import asyncio
import math
import time

from bench.load.generator import generate
from bench.load.results import Scenario
from bench.load.servers import Gunicorn, Pinning
from bench.load.wire import Target, fetch
from bench.load.wrk import run_wrk


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


def measure(
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
    """``target`` on ``server``: one request checked, ``warmup_s`` of load, then
    ``duration_s`` measured; ``connects`` only with ``sessions``."""
    request = target.request()
    status, _ = fetch(server.port, request)
    if status != target.expected_status:
        raise RuntimeError(f"{target.name}: {status} != {target.expected_status}")
    if warmup_s > 0:
        generate(server.port, request, concurrency=concurrency, duration_s=warmup_s)
    sessions_before = sessions.count() if sessions is not None else None
    cpu_before = server.cpu_seconds()
    log_before = server.log_size()
    if use_wrk:
        script = server.log_path.with_suffix(f".{target.name}.lua")
        stats = run_wrk(
            server.port,
            target,
            concurrency=concurrency,
            duration_s=duration_s,
            prefix=pinning.client_prefix(),
            script=script,
        )
    else:
        tally, elapsed = generate(
            server.port, request, concurrency=concurrency, duration_s=duration_s
        )
        stats = tally.stats(elapsed, target.expected_status)
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
