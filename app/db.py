"""Async engine and sessions, sized per target; password or IAM-token authentication."""

from __future__ import annotations

import select
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from app.aws import call
from app.config import Settings, SettingsError

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


# RDS accepts an IAM token for 15 minutes after signing; only a new connection presents one.
IAM_TOKEN_TTL_S = 900
IAM_TOKEN_REFRESH_S = 600


class IamAuthToken:
    """asyncpg's ``password`` as a callable: an RDS IAM auth token, cached and re-signed
    well before it expires.

    Signed locally (SigV4 query signing, no network call) with botocore's signer and the
    environment's credentials: byte for byte what boto3's ``generate_db_auth_token``
    returns, without loading the RDS client's service model (~200 ms of cold start).
    """

    _live: weakref.WeakSet[IamAuthToken] = weakref.WeakSet()

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        region: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.port, self.user, self.region = host, port, user, region
        self._clock = clock
        self._credentials: Any = None
        self._token: str | None = None
        self._signed_at = 0.0
        IamAuthToken._live.add(self)

    @classmethod
    def from_settings(cls, settings: Settings) -> IamAuthToken:
        url = make_url(settings.db.require_url())
        # A Unix socket (local runs only, e.g. the cold-start benchmark) has no host name to
        # sign for; the token is still signed, so the work is paid as on AWS.
        host = url.host or ("localhost" if url.query.get("host") else None)
        if not host or not url.username:
            raise SettingsError("DB_IAM_AUTH needs a database host and user to sign a token for")
        port = url.port or int(str(url.query.get("port") or 5432))
        return cls(host=host, port=port, user=url.username, region=settings.aws.region)

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() - self._signed_at < IAM_TOKEN_REFRESH_S

    def sign(self) -> str:
        """A new token (blocking: the first call imports botocore and resolves credentials)."""
        from botocore.auth import SigV4QueryAuth
        from botocore.awsrequest import AWSRequest

        if self._credentials is None:
            from botocore.session import get_session

            self._credentials = get_session().get_credentials()
        if self._credentials is None:
            raise SettingsError("DB_IAM_AUTH is set but no AWS credentials were found")
        request = AWSRequest(
            method="GET",
            url=f"https://{self.host}:{self.port}/",
            data={"Action": "connect", "DBUser": self.user},
        )
        SigV4QueryAuth(self._credentials, "rds-db", self.region, expires=IAM_TOKEN_TTL_S).add_auth(
            request
        )
        token: str = request.prepare().url.removeprefix("https://")
        self._token, self._signed_at = token, self._clock()
        return token

    def reset(self) -> None:
        """Forget the token and the credentials (after a SnapStart restore both are stale)."""
        self._token = None
        self._credentials = None

    @classmethod
    def reset_all(cls) -> None:
        for token in list(cls._live):
            token.reset()

    async def __call__(self) -> str:
        if self._fresh():
            assert self._token is not None
            return self._token
        return await call(self.sign)


def connect_args(settings: Settings, *, statement_timeout: bool = True) -> dict[str, Any]:
    """asyncpg connection arguments for every engine of ours (migrations: no statement
    timeout, a schema change may legitimately run long).

    Through RDS Proxy (``DB_IAM_AUTH``) no startup parameters at all: the proxy refuses a
    connection whose startup message carries options it does not pass on, statement_timeout
    among them ("unsupported startup parameter in options: statement_timeout", e.g.
    github.com/n8n-io/n8n/issues/25705, github.com/cds-snc/notification-api/pull/1334). There
    the deploy's migration sets the timeout as the role's default in the database instead
    (``upgrade_head(role_statement_timeout_ms=...)``): no round trip, no pinning.
    """
    args: dict[str, Any] = {
        "timeout": settings.db.connect_timeout_s,
        "ssl": settings.db.sslmode,
        "statement_cache_size": settings.db.statement_cache_size,
    }
    if settings.db.iam_auth:
        args["password"] = IamAuthToken.from_settings(settings)
        return args
    timeout_ms = settings.db.statement_timeout_ms if statement_timeout else 0
    args["server_settings"] = {
        "application_name": f"trident-{settings.target}",
        # 0 for migrations: the role's default (set by the deploy) must not cut them short.
        "statement_timeout": str(timeout_ms),
    }
    return args


def create_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        async_url(settings.db.require_url()),
        pool_size=settings.db.pool_size,
        max_overflow=settings.db.max_overflow,
        pool_timeout=settings.db.pool_timeout_s,
        pool_recycle=settings.db.pool_recycle_s,
        # Bound parameters can carry secrets; never let them reach a log line or a traceback.
        hide_parameters=True,
        connect_args=connect_args(settings),
    )
    check_liveness_at_checkout(engine, idle_ping_s=settings.db.idle_ping_s)
    return engine


def _server_spoke(connection: Any) -> bool:
    """Whether anything is waiting to be read on an idle asyncpg connection's socket."""
    transport = connection._transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def check_liveness_at_checkout(engine: AsyncEngine, *, idle_ping_s: float) -> None:
    """Replace dead pooled connections before a request sees them, without ``pool_pre_ping``'s
    round trip at every checkout.

    A connection the server closed (failover, ``pg_terminate_backend``, RDS Proxy's idle
    close, a restart) has either been marked closed by asyncpg already, or has the server's
    last words (a FATAL notice, the end of stream) waiting in its socket: an idle connection
    is never spoken to otherwise, so one ``poll`` with no timeout tells, without a round trip.
    Only a connection idle for ``idle_ping_s`` is pinged, for the drops nobody announces (a NAT
    or firewall forgetting it). Wall-clock time: a frozen Lambda's monotonic clock stands still.
    """

    def returned(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.time()

    def checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        raw = dbapi_connection._connection
        if raw.is_closed() or _server_spoke(raw):
            raise DisconnectionError("the server closed this connection")
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.time() - idle_since >= idle_ping_s:
            try:
                dbapi_connection.ping()
            except Exception as exc:
                raise DisconnectionError("an idle connection did not answer a ping") from exc

    # DisconnectionError makes the pool discard the connection and check out another.
    event.listen(engine.sync_engine.pool, "checkin", returned)
    event.listen(engine.sync_engine.pool, "checkout", checked_out)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@dataclass
class Database:
    """What the app holds per process: the engine and its session factory.

    ``sessions`` is swapped in tests for one bound to a rolled-back connection.
    """

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # For requests that only read (GET, HEAD): autocommit, so no BEGIN and COMMIT round trips
    # around their SELECTs. None: reads use ``sessions`` too (the tests' rolled-back ones).
    reads: async_sessionmaker[AsyncSession] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        engine = create_engine(settings)
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        return cls(
            engine=engine,
            sessions=create_sessionmaker(engine),
            reads=create_sessionmaker(autocommit),
        )

    @asynccontextmanager
    async def side_transaction(self) -> AsyncIterator[AsyncSession]:
        """A short transaction of its own, committed even if the request later fails."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection where each statement commits by itself: one round trip, not three
        (BEGIN, statement, COMMIT), for single statements that need no transaction."""
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def dispose(self) -> None:
        await self.engine.dispose()
