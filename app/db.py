"""Async engine and sessions, sized per target."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from app.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (what pgserver and RDS print) and use asyncpg."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        async_url(settings.require_database_url()),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_recycle=settings.pool_recycle_s,
        pool_pre_ping=True,
        # Bound parameters can carry secrets; never let them reach a log line or a traceback.
        hide_parameters=True,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "server_settings": {
                "statement_timeout": str(settings.statement_timeout_ms),
                "application_name": f"trident-{settings.target}",
            },
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@dataclass
class Database:
    """What the app holds per process: the engine and its session factory.

    ``sessions`` is swapped in tests for one bound to a rolled-back connection.
    """

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        engine = create_engine(settings)
        return cls(engine=engine, sessions=create_sessionmaker(engine))

    @asynccontextmanager
    async def side_transaction(self) -> AsyncIterator[AsyncSession]:
        """A short transaction of its own, committed even if the request later fails."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
