"""The app with everything but /health built on first use, for Lambda's cold starts.

``GET /health`` is answered by a Starlette app holding only that route, behind the same
middleware as the full app: no FastAPI, SQLAlchemy or domain code is imported for it. The
first other request builds the full app (``app.main.build_app``, every router included at
construction), which then serves everything, /health included.
"""

from __future__ import annotations

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


class HealthFirst:
    """ASGI: ``GET /health`` to ``light`` until the full app exists; anything else builds it
    (once, in place: a Lambda environment serves one request at a time) and goes to it."""

    def __init__(self, light: ASGIApp, build: Callable[[], ASGIApp]) -> None:
        self.light = light
        self._build = build
        self.full: ASGIApp | None = None

    def build(self) -> ASGIApp:
        if self.full is None:
            self.full = self._build()
        return self.full

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.full is None
            and scope["type"] == "http"
            and scope["method"] == "GET"
            and route_path(scope) == HEALTH_PATH
        ):
            await self.light(scope, receive, send)
        else:
            await self.build()(scope, receive, send)
