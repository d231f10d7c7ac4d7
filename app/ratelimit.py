"""Fixed-window counters in PostgreSQL, shared by every process and Lambda instance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Database
from app.errors import AppError


class RateLimitCounter(Base):
    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class Hit:
    key: str
    count: int
    retry_after_s: int


# One statement per call: rows are locked in key order, so concurrent callers hitting the
# same keys serialise in the same order and each sees an exact count.
_HIT_SQL = text(
    """
    INSERT INTO rate_limit_counters AS c (key, window_start, count)
    SELECT k, now(), 1 FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN c.window_start <= now() - make_interval(secs => :window)
                     THEN 1 ELSE c.count + 1 END,
        window_start = CASE WHEN c.window_start <= now() - make_interval(secs => :window)
                            THEN now() ELSE c.window_start END
    RETURNING key, count,
        EXTRACT(EPOCH FROM (window_start + make_interval(secs => :window) - now()))::float8
    """
)

_GIVE_BACK_SQL = text(
    "UPDATE rate_limit_counters SET count = greatest(count - 1, 0) WHERE key = ANY(:keys)"
)


async def hit(session: AsyncSession, *, keys: list[str], window_s: int) -> list[Hit]:
    """Count one attempt against every key; returns the counts after this attempt."""
    rows = await session.execute(_HIT_SQL, {"keys": sorted(set(keys)), "window": window_s})
    return [Hit(key=row[0], count=row[1], retry_after_s=max(1, math.ceil(row[2]))) for row in rows]


async def give_back(session: AsyncSession, *, keys: list[str]) -> None:
    """Undo an attempt that turned out not to count (a successful login)."""
    await session.execute(_GIVE_BACK_SQL, {"keys": keys})


async def consume(db: Database, *, keys: list[str], window_s: int, limit: int, what: str) -> None:
    """Count one attempt against every key in its own committed transaction (so a request
    that fails afterwards still counts), then 429 if any key is over ``limit``."""
    async with db.side_transaction() as side:
        hits = await hit(side, keys=keys, window_s=window_s)
    enforce(hits, limit=limit, what=what)


def enforce(hits: list[Hit], *, limit: int, what: str) -> None:
    over = [h for h in hits if h.count > limit]
    if over:
        retry = max(h.retry_after_s for h in over)
        raise AppError(
            429,
            "rate-limited",
            f"too many {what}; retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )
