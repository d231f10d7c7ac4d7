"""The user check and a user's row in one statement.

A route that reads one row its caller owns would otherwise look the user up first (one round
trip, one ORM load) and then read the row. Here the user is the driving row and the owned row
is left-joined to it: no user means the token's account is gone (401, as ``CurrentUser``
answers; an account being deleted is gone too), a user without the row means not found.
Nothing about the user is cached: every request reads it.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.auth.tokens import InvalidToken

T = TypeVar("T")


def owned_statement(entity: type[T], *conditions: ColumnElement[bool]) -> Select[uuid.UUID, T]:
    """Built once per entity (statement construction costs more than its execution's Python
    side): binds ``user_id`` and ``row_id``. ``entity`` has ``id`` and ``user_id`` columns."""
    model: Any = entity
    return (
        select(User.id, entity)
        .outerjoin(
            entity,
            and_(model.id == bindparam("row_id"), model.user_id == User.id, *conditions),
        )
        .where(User.id == bindparam("user_id"), User.deleting_at.is_(None))
    )


async def read_owned(
    session: AsyncSession,
    statement: Select[uuid.UUID, T],
    *,
    user_id: uuid.UUID,
    row_id: uuid.UUID,
) -> T | None:
    """The row, or None if the user has no such row; InvalidToken if the user is gone."""
    found = (await session.execute(statement, {"user_id": user_id, "row_id": row_id})).first()
    if found is None:
        raise InvalidToken("user no longer exists")
    row: T | None = found[1]
    return row
