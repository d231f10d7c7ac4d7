"""SnapStart hooks of the API function: the snapshot is taken after init and restored into
many environments, so warm everything up before it and start clean after each restore."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import random
from typing import TYPE_CHECKING, Any

from handlers.events import http_api_event

if TYPE_CHECKING:
    from handlers.api import Environment

logger = logging.getLogger("app.lambda")
# Connecting before the snapshot is an optimisation: never hold the snapshot up for long.
SNAPSHOT_CONNECT_TIMEOUT_S = 5.0


def register(env: Environment) -> None:
    # The runtime's module exists only where SnapStart can run (and in our emulator).
    if importlib.util.find_spec("snapshot_restore_py") is None:
        return
    from snapshot_restore_py import register_after_restore, register_before_snapshot

    register_before_snapshot(lambda: before_snapshot(env))
    register_after_restore(lambda: after_restore(env))


def before_snapshot(env: Environment) -> None:
    """Load and build what the first requests would, so restored copies start warm: the full
    app, SQLAlchemy's mappers, the authenticated request path (PyJWT, dependencies,
    problem+json), and the connect path (IAM signing, asyncpg, the dialect's first-connect
    queries, a compiled ORM read). The connection is closed again: no socket survives a
    restore, and after_restore re-signs the token."""
    from sqlalchemy.orm import configure_mappers

    env.app.build()
    configure_mappers()
    if env.settings.db.iam_auth:
        # The signer's imports, even if the database cannot be reached from here.
        import botocore.auth
        import botocore.awsrequest
        import botocore.session  # noqa: F401
    access = logging.getLogger("app.access")
    access.disabled = True
    try:
        status = _warm(env, "/health")
        # A token that fails verification: the whole auth path, no database.
        refused = _warm(env, "/v1/users/me", authorization="Bearer warm.up.token")
        connected = env.loop.run_until_complete(_warm_connect_path(env))
    finally:
        access.disabled = False
    logger.info(
        "snapstart: warmed before the snapshot",
        extra={
            "health_status": status,
            "refused_token_status": refused,
            "database_warmed": connected,
        },
    )


def _warm(env: Environment, path: str, **headers: str) -> int:
    """One request through the adapter; its metrics are dropped (not traffic)."""
    no_context: Any = None  # Mangum only passes it on, in the scope
    response = env.adapter(http_api_event("GET", path, headers), no_context)
    env.metrics.clear_metrics()
    return int(response["statusCode"])


async def _warm_connect_path(env: Environment) -> bool:
    """One ORM read by primary key over a fresh connection, then every connection closed. An
    unreachable database only costs the warm-up (the first request connects)."""
    import uuid

    from app.auth.models import User

    try:
        async with (
            asyncio.timeout(SNAPSHOT_CONNECT_TIMEOUT_S),
            env.resources.db.sessions() as session,
        ):
            await session.get(User, uuid.UUID(int=0))
    except Exception as exc:
        logger.warning(
            "snapstart: database not reachable before the snapshot",
            extra={"error": type(exc).__name__},
        )
        return False
    finally:
        await env.resources.disconnect()
    return True


def after_restore(env: Environment) -> None:
    """Every restored copy starts from the same memory: new randomness, no inherited
    connections, a token signed with the credentials this copy was given."""
    random.seed()
    from app.db import IamAuthToken

    IamAuthToken.reset_all()
    env.loop.run_until_complete(env.resources.disconnect())
    logger.info("snapstart: restored")
