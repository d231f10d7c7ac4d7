"""Lambda's app: each request served by the smallest app that answers it as the full app
would, each built on first use, so a cold start pays only for what its first request needs.

* ``GET /health``: a Starlette app with that route alone, behind the same middleware as the
  full app (no FastAPI, SQLAlchemy or domain code is imported for it);
* a path only one router group serves (``GROUP_OF_PREFIX``): an app with that group alone
  (``app.main.build_app(groups=...)``, routers included at construction);
* anything else: the full app, which from then on serves every request, so a 404 or 405 is
  only decided with every route present.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.middleware import middleware_stack
from app.observability import RequestMetrics
from app.resources import Resources

HEALTH_PATH = "/health"


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})  # the body of app.ops.health, byte for byte


def health_app(
    settings: Settings, *, metrics: RequestMetrics | None, resources: Resources | None
) -> Starlette:
    return Starlette(
        routes=[Route(HEALTH_PATH, health, methods=["GET"])],
        middleware=middleware_stack(settings, metrics=metrics, resources=resources),
    )


def route_path(scope: Scope) -> str:
    """The path the app routes on: without the ``root_path`` (an API Gateway stage)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


# Path prefixes only one router group of app.main.ROUTER_GROUPS serves
# (tests/handlers/test_deferred.py holds the two together).
GROUP_OF_PREFIX = (
    ("/v1/auth/", "auth"),
    ("/v1/users/", "auth"),
    ("/v1/jobs", "jobs"),
    ("/v1/files", "files"),
)


def group_of(path: str) -> str | None:
    return next((group for prefix, group in GROUP_OF_PREFIX if path.startswith(prefix)), None)


class Deferred:
    """ASGI: dispatches to ``light`` (GET /health), to an app made by ``build(group)`` for a
    path of one group, or to the full app (``build(None)``). Apps are built in place, on the
    request that needs them: a Lambda environment serves one request at a time."""

    def __init__(self, light: ASGIApp, build: Callable[[str | None], ASGIApp]) -> None:
        self.light = light
        self._build = build
        self.full: ASGIApp | None = None
        self.groups: dict[str, ASGIApp] = {}  # one-group apps, used until the full app exists

    def build(self) -> ASGIApp:
        """The full app, built now if it was not yet."""
        if self.full is None:
            self.full = self._made(None)
        return self.full

    def _made(self, group: str | None) -> ASGIApp:
        # Building is mostly importing: objects that live as long as the environment. The
        # collector would scan them while they are made and at every full collection after;
        # set aside (gc.freeze), they cost it nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._build(group)
        finally:
            gc.freeze()
            if collecting:
                gc.enable()

    def app_for(self, scope: Scope) -> ASGIApp:
        if self.full is not None or scope["type"] != "http":
            return self.build()
        path = route_path(scope)
        if path == HEALTH_PATH and scope["method"] == "GET":
            return self.light
        group = group_of(path)
        if group is None:
            return self.build()
        if group not in self.groups:
            self.groups[group] = self._made(group)
        return self.groups[group]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app_for(scope)(scope, receive, send)
