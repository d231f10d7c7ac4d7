"""Async Alembic environment; one migrator at a time (PostgreSQL advisory lock)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import app.auth.models
import app.files.models
import app.jobs.models
import app.ratelimit  # noqa: F401  (registers tables on the metadata)
from app.db import Base, async_url

# Any constant shared by every deployer of this schema; 'trident' in ASCII.
MIGRATION_LOCK_ID = 0x74726964656E74
ROLE_STATEMENT_TIMEOUT = (
    "DO $$ BEGIN EXECUTE format('ALTER ROLE %I IN DATABASE %I SET statement_timeout = %L',"
    " current_user, current_database(), '{ms}'); END $$"
)


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
    )
    with context.begin_transaction():
        # Held until commit: a second deployer waits, then finds nothing left to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        context.run_migrations()
        timeout_ms = context.config.attributes.get("role_statement_timeout_ms")
        if timeout_ms is not None:
            # The app role's default in this database: RDS Proxy refuses statement_timeout as
            # a startup parameter, and a default costs no round trip (app.db.connect_args).
            connection.execute(text(ROLE_STATEMENT_TIMEOUT.format(ms=int(timeout_ms))))


async def run_online() -> None:
    url = context.config.attributes["database_url"]
    engine = create_async_engine(
        async_url(url),
        poolclass=NullPool,
        connect_args=context.config.attributes.get("connect_args", {}),
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
asyncio.run(run_online())
