"""The application factory: ``uvicorn --factory app.main:create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from app.auth.passwords import Passwords
from app.auth.tokens import TokenIssuer
from app.config import Settings, Target, load_settings
from app.errors import install_error_handlers, problem_responses, problems_as_problem_json
from app.middleware import middleware_stack
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
    if settings.target is Target.LOCAL and settings.db.migrate_on_startup:
        from app.migrations import upgrade_head

        # Alembic's env runs its own event loop; keep it off ours.
        await run_in_threadpool(upgrade_head, settings.db.require_url())
    resources.db  # noqa: B018  (made now: a malformed DATABASE_URL fails the start)
    try:
        yield
    finally:
        await resources.close()


def _auth() -> Sequence[APIRouter]:
    from app.accounts.router import router as accounts_router
    from app.auth.router import auth_router, users_router

    return auth_router, users_router, accounts_router


def _jobs() -> Sequence[APIRouter]:
    from app.domains import compose
    from app.jobs.router import router

    compose()  # the kinds a submission may name
    return (router,)


def _files() -> Sequence[APIRouter]:
    from app.files.router import router

    return (router,)


def _web() -> Sequence[APIRouter]:
    from app.web import router

    return (router,)  # the upload page at /


# The domain routers in groups, in document order, each imported only when included (Lambda
# builds an app with one group for the paths only that group serves: app.deferred).
ROUTER_GROUPS: dict[str, Callable[[], Sequence[APIRouter]]] = {
    "auth": _auth,
    "jobs": _jobs,
    "files": _files,
    "web": _web,
}
NO_DATABASE = frozenset({"web"})  # static files only


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    """The process's app, logging configured: what a container's server serves."""
    settings = settings or load_settings()
    configure_logging(settings)
    return build_app(settings, resources=resources)


def build_app(
    settings: Settings,
    *,
    resources: Resources | None = None,
    metrics: RequestMetrics | None = None,
    groups: Collection[str] | None = None,
) -> FastAPI:
    """The app, its routers included at construction: every group, or only ``groups``.
    ``resources``: the process's (default: the app's own, closed by its lifespan);
    ``metrics``: where requests are reported (default: Prometheus when METRICS_ENABLED)."""
    tokens = TokenIssuer(settings)  # fails fast on a missing or malformed key ring
    if metrics is None and settings.observability.metrics_enabled:
        metrics = get_metrics()
    resources = resources or Resources(settings)

    app = FastAPI(
        title="Trident",
        version=API_VERSION,
        summary="One FastAPI service, three AWS targets.",
        lifespan=lifespan,
        docs_url="/docs" if settings.http.docs_enabled else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.http.docs_enabled else None,
        generate_unique_id_function=operation_id,
        responses=COMMON_PROBLEMS,
        middleware=middleware_stack(settings, metrics=metrics, resources=resources),
    )
    app.state.settings = settings
    app.state.resources = resources
    app.state.tokens = tokens
    app.state.passwords = Passwords(settings)
    install_error_handlers(app)

    app.include_router(ops_router)
    if settings.observability.metrics_enabled:
        app.include_router(metrics_router)
    for name, routers in ROUTER_GROUPS.items():
        if groups is None or name in groups:
            for router in routers():
                responses = None if name in NO_DATABASE else DATABASE_PROBLEMS
                app.include_router(router, responses=responses)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems_as_problem_json(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
