"""The application factory: ``uvicorn --factory app.main:create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from app.auth.passwords import Passwords
from app.auth.tokens import TokenIssuer
from app.config import Settings, Target, load_settings
from app.errors import (
    install_database_error_handlers,
    install_error_handlers,
    problem_responses,
    problems_as_problem_json,
)
from app.middleware import LimitsMiddleware, ProblemCORSMiddleware, RequestContextMiddleware
from app.observability import RequestMetrics, configure_logging, get_metrics
from app.ops import metrics_router
from app.ops import router as ops_router
from app.resources import Resources

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
    resources: Resources = app.state.resources
    if settings.target is Target.LOCAL and settings.migrate_on_startup:
        from app.migrations import upgrade_head

        # Alembic's env runs its own event loop; keep it off ours.
        await run_in_threadpool(upgrade_head, settings.require_database_url())
    resources.db  # noqa: B018  (made now: a malformed DATABASE_URL fails the start)
    try:
        yield
    finally:
        await resources.close()


# What a deferred app serves before its domain routers exist: liveness never pays for them.
LIGHT_PATHS = frozenset({"/health"})


def _auth(app: FastAPI) -> None:
    from app.auth.router import auth_router, users_router

    app.include_router(auth_router, responses=DATABASE_PROBLEMS)
    app.include_router(users_router, responses=DATABASE_PROBLEMS)


def _jobs(app: FastAPI) -> None:
    from app.domains import compose
    from app.jobs.router import router

    compose()  # the kinds a submission may name

    app.include_router(router, responses=DATABASE_PROBLEMS)


def _files(app: FastAPI) -> None:
    from app.files.router import router

    app.include_router(router, responses=DATABASE_PROBLEMS)


def _web(app: FastAPI) -> None:
    from app.web import router

    app.include_router(router)  # the upload page at /


# The domain routers in groups, each imported only when included (SQLAlchemy, PyJWT and
# argon2 come with the first): a deferred app includes the group a request's path needs.
ROUTER_GROUPS: dict[str, Callable[[FastAPI], None]] = {
    "auth": _auth,
    "jobs": _jobs,
    "files": _files,
    "web": _web,
}
# Path prefixes only one group serves. Any other path brings every group in, so a 404 or 405
# is only ever decided with every route that could match present.
GROUP_OF_PREFIX = (
    ("/v1/auth/", "auth"),
    ("/v1/users/", "auth"),
    ("/v1/jobs", "jobs"),
    ("/v1/files", "files"),
)


def group_of(path: str) -> str | None:
    for prefix, group in GROUP_OF_PREFIX:
        if path.startswith(prefix):
            return group
    return None


def include_routers(app: FastAPI, groups: Iterable[str] | None = None) -> None:
    """Include the pending router groups among ``groups`` (default: all), and with the first
    of them the database's error handlers."""
    pending: set[str] = app.state.routers_pending
    wanted = [g for g in ROUTER_GROUPS if g in pending and (groups is None or g in groups)]
    if not wanted:
        return
    for group in wanted:
        ROUTER_GROUPS[group](app)
        pending.discard(group)
    if not app.state.database_handlers:
        app.state.database_handlers = True
        install_database_error_handlers(app)
    # Starlette copies the handlers into the stack it builds on first call: build it again.
    app.middleware_stack = None


class OnDemandRouters:
    """Wraps an app made with ``defer_routers=True``: before the app sees a request, the
    router group its path belongs to is included (every group for a path no single group
    owns); light paths include nothing."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app.state.routers_pending and scope["type"] == "http":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if path not in LIGHT_PATHS:
                group = group_of(path)
                include_routers(self.app, None if group is None else (group,))
        await self.app(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    defer_routers: bool = False,
    resources: Resources | None = None,
    metrics: RequestMetrics | None = None,
) -> FastAPI:
    """The app. With ``defer_routers`` (Lambda) the caller wraps it in ``OnDemandRouters``.
    ``resources``: the process's (default: the app's own, closed by its lifespan);
    ``metrics``: where requests are reported (default: Prometheus when METRICS_ENABLED)."""
    settings = settings or load_settings()
    configure_logging(settings)
    tokens = TokenIssuer(settings)  # fails fast on a missing or malformed key ring
    resources = resources or Resources(settings)
    if metrics is None and settings.metrics_enabled:
        metrics = get_metrics()

    app = FastAPI(
        title="Trident",
        version=API_VERSION,
        summary="One FastAPI service, three AWS targets.",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        generate_unique_id_function=operation_id,
        responses=COMMON_PROBLEMS,
        middleware=[
            Middleware(
                RequestContextMiddleware, settings=settings, metrics=metrics, resources=resources
            ),
            Middleware(
                ProblemCORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=settings.cors_allow_credentials,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"],
                expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
                max_age=600,
            ),
            Middleware(
                LimitsMiddleware,
                max_body_bytes=settings.max_body_bytes,
                timeout_s=settings.request_timeout_s,
            ),
        ],
    )
    app.state.settings = settings
    app.state.resources = resources
    app.state.tokens = tokens
    app.state.passwords = Passwords(settings)
    install_error_handlers(app)

    app.include_router(ops_router)
    if settings.metrics_enabled:
        app.include_router(metrics_router)
    app.state.routers_pending = set(ROUTER_GROUPS)
    app.state.database_handlers = False
    if not defer_routers:
        include_routers(app)

    def openapi() -> dict[str, Any]:
        include_routers(app)
        if app.openapi_schema is None:
            app.openapi_schema = problems_as_problem_json(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
