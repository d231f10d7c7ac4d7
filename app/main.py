"""The application factory: ``uvicorn --factory app.main:create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware

from app.auth.passwords import Passwords
from app.auth.router import auth_router, users_router
from app.auth.tokens import TokenIssuer
from app.aws import AwsClients
from app.config import Settings, Target, load_settings
from app.db import Database
from app.errors import install_error_handlers, problem_responses, problems_as_problem_json
from app.jobs.router import router as jobs_router
from app.middleware import (
    BodyLimitMiddleware,
    ProblemCORSMiddleware,
    RequestContextMiddleware,
    TimeoutMiddleware,
)
from app.observability import configure_logging
from app.ops import metrics_router
from app.ops import router as ops_router

API_VERSION = "0.1.0"
# Any operation can meet these, whatever its own logic does: 400 for a malformed
# Content-Length, 413 over the body limit, 500 unexpected, 504 request or statement timeout.
COMMON_PROBLEMS = problem_responses(400, 413, 500, 504)
# Any operation that reaches the database: unreachable, or its pool exhausted.
DATABASE_PROBLEMS = problem_responses(503)


def operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}_{route.name}" if route.tags else route.name


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.target is Target.LOCAL and settings.migrate_on_startup:
        from app.migrations import upgrade_head

        # Alembic's env runs its own event loop; keep it off ours.
        await run_in_threadpool(upgrade_head, settings.require_database_url())
    owned = getattr(app.state, "db", None) is None
    if owned:
        app.state.db = Database.from_settings(settings)
    try:
        yield
    finally:
        if owned:
            await app.state.db.dispose()
            app.state.db = None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings)
    tokens = TokenIssuer(settings)  # fails fast on a missing or malformed key ring

    app = FastAPI(
        title="Trident",
        version=API_VERSION,
        summary="One FastAPI service, three AWS targets.",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs else None,
        generate_unique_id_function=operation_id,
        responses=COMMON_PROBLEMS,
        middleware=[
            Middleware(RequestContextMiddleware, settings=settings),
            Middleware(
                ProblemCORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=settings.cors_allow_credentials,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"],
                expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
                max_age=600,
            ),
            Middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes),
            Middleware(TimeoutMiddleware, timeout_s=settings.timeout_s),
        ],
    )
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.passwords = Passwords(settings)
    app.state.aws = AwsClients(settings)
    app.state.db = None
    install_error_handlers(app)

    app.include_router(ops_router)
    app.include_router(auth_router, responses=DATABASE_PROBLEMS)
    app.include_router(users_router, responses=DATABASE_PROBLEMS)
    app.include_router(jobs_router, responses=DATABASE_PROBLEMS)
    if settings.metrics:
        app.include_router(metrics_router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems_as_problem_json(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
