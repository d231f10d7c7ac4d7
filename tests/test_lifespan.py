"""The app's lifespan: it opens the database for the process, closes it at shutdown, and in
``local`` brings an empty database to the current schema before serving."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import text

from app.config import Settings
from app.db import Database
from app.local.postgres import database_url
from app.main import create_app
from tests.conftest import PASSWORD, register


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app between startup and shutdown, as a server runs it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def sessions_on(pg_server: Any, database: str) -> int:
    """Connections the app holds to ``database``, as PostgreSQL counts them."""
    out = pg_server.psql(
        "SELECT count(*) FROM pg_stat_activity "  # noqa: S608  (our own generated name)
        f"WHERE datname = '{database}' AND application_name LIKE 'trident-%';"
    )
    return int(out.split("\n")[2].strip())


def table_exists(pg_server: Any, database: str, table: str) -> bool:
    out = pg_server.psql(f"\\c {database}\nSELECT to_regclass('public.{table}') IS NOT NULL;")
    return " t\n" in out


async def sessions_after_close(pg_server: Any, database: str) -> int:
    # A backend leaves pg_stat_activity a moment after its client hangs up.
    for _ in range(40):
        count = sessions_on(pg_server, database)
        if count == 0:
            break
        await asyncio.sleep(0.05)
    return count


def empty_database(pg_server: Any) -> tuple[str, str]:
    name = f"t_empty_{uuid.uuid4().hex[:10]}"
    pg_server.psql(f"CREATE DATABASE {name};")
    return name, database_url(pg_server, name)


async def test_lifespan_opens_the_database_and_closes_it_at_shutdown(
    pg_server: Any,
    clone_database: Callable[[str], str],
    settings_factory: Callable[..., Settings],
) -> None:
    name = f"t_life_{uuid.uuid4().hex[:10]}"
    app = create_app(settings_factory(database_url=clone_database(name)))
    resources = app.state.resources
    assert not resources.has_db  # nothing connects before startup
    async with serving(app) as client:
        assert isinstance(resources.db, Database)
        assert (await client.get("/ready")).status_code == 200
        user = await register(client)
        token = await client.post(
            "/v1/auth/token", data={"username": user["email"], "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
        assert sessions_on(pg_server, name) >= 1
    assert not resources.has_db
    # Every pooled connection was closed, not left for the server to time out.
    assert await sessions_after_close(pg_server, name) == 0


async def test_lifespan_leaves_an_injected_database_alone(
    app: Any, database: Database, pg_server: Any
) -> None:
    # What tests rely on: a database made elsewhere is not replaced and not disposed by the
    # lifespan.
    async with serving(app) as client:
        assert app.state.resources.db is database
        assert (await client.get("/ready")).status_code == 200
    assert app.state.resources.db is database
    async with database.sessions() as session:
        assert await session.scalar(text("SELECT 1")) == 1


async def test_local_startup_migrates_an_empty_database(
    pg_server: Any, settings_factory: Callable[..., Settings]
) -> None:
    name, url = empty_database(pg_server)
    assert not table_exists(pg_server, name, "users")
    app = create_app(settings_factory(database_url=url, target="local", migrate_on_startup=True))
    async with serving(app) as client:
        assert table_exists(pg_server, name, "users")
        assert table_exists(pg_server, name, "rate_limit_counters")
        user = await register(client)
        token = await client.post(
            "/v1/auth/token", data={"username": user["email"], "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
    # A second start on the migrated database is a no-op, not an error.
    again = create_app(settings_factory(database_url=url, target="local", migrate_on_startup=True))
    async with serving(again) as client:
        assert (await client.get("/ready")).status_code == 200


async def test_only_local_migrates_on_startup(
    pg_server: Any, settings_factory: Callable[..., Settings]
) -> None:
    # Deployed targets migrate once per deploy (handlers/migrate.py), never per process.
    name, url = empty_database(pg_server)
    app = create_app(settings_factory(database_url=url, target="fargate", migrate_on_startup=True))
    async with serving(app) as client:
        assert (await client.get("/health")).status_code == 200
    assert not table_exists(pg_server, name, "users")
