"""Keyset pagination: ``?limit=`` (1..100, default 20) and an opaque ``cursor``.

Newest first, ordered by (created_at, id); a cursor names the last item of the previous page,
so pages stay stable while rows are added (no OFFSET drift, no deep-offset scans).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from app.errors import AppError
from app.examples import with_example

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
MAX_LIMIT = 100

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, at most {MAX_LIMIT}.")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="`next_cursor` from the previous page."),
]


class Page(BaseModel, Generic[T]):
    model_config = with_example(
        {"items": [], "next_cursor": "MjAyNi0xMS0yN1QxMDowMDowMCswMDowMHw0ZjFj"}
    )

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


def encode_cursor(created_at: datetime, item_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, item = raw.partition("|")
        return datetime.fromisoformat(created), uuid.UUID(item)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise AppError(
            422, "invalid-cursor", "cursor is malformed; start from the first page"
        ) from exc


async def newest_first(
    session: AsyncSession, query: Select[T], *, limit: int, cursor: str | None
) -> tuple[list[T], str | None]:
    """One page of ``query``'s rows (an entity with ``created_at`` and ``id``), newest first,
    after the item ``cursor`` names; and the cursor of the next page, if there is one."""
    from sqlalchemy import and_, or_

    entity: Any = query.column_descriptions[0]["entity"]
    if cursor:
        created, last_id = decode_cursor(cursor)
        query = query.where(
            or_(
                entity.created_at < created,
                and_(entity.created_at == created, entity.id < last_id),
            )
        )
    ordered = query.order_by(entity.created_at.desc(), entity.id.desc()).limit(limit + 1)
    rows: list[Any] = list(await session.scalars(ordered))
    page, more = rows[:limit], len(rows) > limit
    return page, encode_cursor(page[-1].created_at, page[-1].id) if more else None
