"""Lambda entry point of the HTTP API: ``handlers.api.handler``.

One ``Environment`` per execution environment, made in the init phase (Lambda imports this
module before the first invoke): settings, the app, the event loop, logging and metrics.
The engine, boto3 and the domain routers come on first use, so a cold start that only
serves /health loads none of them. Mangum runs with lifespan off (it would otherwise enter
the ASGI lifespan around every invocation) and drives each request with
``run_until_complete`` on the loop set here, where the engine's one connection lives on
between invocations.

Works for API Gateway HTTP APIs (payload 2.0 and 1.0), REST APIs and ALB target groups,
with or without a stage in the path.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import random
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES
from mangum.handlers import ALB, APIGateway, HTTPGateway
from mangum.types import Scope
from starlette.types import Message

from app.config import Settings, SettingsError
from app.observability import EmfMetrics, JsonFormatter, request_id_var, scrub
from app.resources import Resources
from handlers import lambda_settings

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer
    from fastapi import FastAPI

logger = logging.getLogger("app.lambda")
SERVICE = "trident-api"
# Connecting before the snapshot is an optimisation: never hold the snapshot up for long.
SNAPSHOT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_NAMESPACE = "Trident"
# problem+json and the like are text: without this Mangum would base64 them.
TEXT_MIME_TYPES = [*DEFAULT_TEXT_MIME_TYPES, "+json"]

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


# --- events -> ASGI scope: stage prefixes and cookies -------------------------------------


def _stage_prefix(event: dict[str, Any], path: str) -> str:
    """The part of ``path`` API Gateway added in front of the app's own routes."""
    context = event.get("requestContext", {})
    stage = context.get("stage")
    if stage and stage != "$default" and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
        return f"/{stage}"  # HTTP APIs keep a named stage in the path
    return ""


def _with_stage(scope: Scope, event: dict[str, Any]) -> Scope:
    """Route on the path without the stage, keep it in ``root_path`` so URLs the app
    builds (Location headers) carry it."""
    context = event.get("requestContext", {})
    seen = context.get("path")  # REST APIs: the path as the client sent it, stage and all
    if "resource" in event and isinstance(seen, str) and seen != event.get("path"):
        own = event.get("path") or "/"
        if seen.endswith(own):
            prefix = seen[: len(seen) - len(own)].rstrip("/")
            scope["root_path"] = prefix
            scope["path"] = prefix + scope["path"]
        return scope
    scope["root_path"] = _stage_prefix(event, scope["path"])
    return scope


def _one_cookie_header(scope: Scope) -> Scope:
    """Multi-value cookie headers (REST, ALB) become the one ``cookie`` header browsers send,
    joined with '; ' (Mangum joins REST's with ', ' and passes ALB's as duplicates)."""
    cookies: list[str] = []
    headers = []
    for key, value in scope["headers"]:
        if key == b"cookie":
            cookies.append(value.decode())
        else:
            headers.append([key, value])
    event = scope["aws.event"]
    multi = {k.lower(): v for k, v in (event.get("multiValueHeaders") or {}).items()}
    if isinstance(multi.get("cookie"), list):
        cookies = multi["cookie"]
    if cookies:
        headers.append([b"cookie", "; ".join(cookies).encode()])
        scope["headers"] = headers
    return scope


class _HTTPGateway(HTTPGateway):
    @property
    def scope(self) -> Scope:
        return _one_cookie_header(_with_stage(super().scope, self.event))


class _APIGateway(APIGateway):
    @property
    def scope(self) -> Scope:
        return _one_cookie_header(_with_stage(super().scope, self.event))


class _ALB(ALB):
    @property
    def scope(self) -> Scope:
        return _one_cookie_header(super().scope)


def make_adapter(app: Any) -> Mangum:
    """Mangum for any ASGI app, lifespan off, with our event fixes and text types."""
    return Mangum(
        app,
        lifespan="off",
        custom_handlers=[_ALB, _HTTPGateway, _APIGateway],
        text_mime_types=TEXT_MIME_TYPES,
    )


# --- logging and metrics --------------------------------------------------------------------


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON (Lambda context, cold start, correlation id) plus our request id,
    with secrets scrubbed like every other log line of ours."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = request_id_var.get()
        if request_id and not hasattr(record, "request_id"):
            record.request_id = request_id
        return scrub(super().format(record))


def _configure_logging(settings: Settings) -> Logger:
    """Every record (ours, Mangum's, SQLAlchemy's) leaves through Powertools' handler."""
    logger = Logger(
        service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
        level=settings.log_level,
        logger_formatter=ScrubbingFormatter(),
        stream=sys.stdout,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        # Ours from create_app, and the runtime's plain-text one: one JSON line per record.
        if isinstance(handler.formatter, JsonFormatter) or type(handler).__name__ in {
            "LambdaLoggerHandler",
            "LambdaLoggerHandlerWithFrameType",
        }:
            root.removeHandler(handler)
    root.addHandler(logger.registered_handler)
    logging.getLogger(logger.service).propagate = False  # its records already went out
    logging.getLogger("mangum").setLevel(logging.WARNING)  # one line per request, like ours
    return logger


def correlation_id(event: dict[str, Any]) -> str | None:
    """API Gateway's request id; an ALB has none, its trace id is the next best thing."""
    request_id = event.get("requestContext", {}).get("requestId")
    if isinstance(request_id, str):
        return request_id
    headers = event.get("headers") or {}
    trace = headers.get("x-amzn-trace-id")
    if trace is None:
        multi = event.get("multiValueHeaders") or {}
        trace = (multi.get("x-amzn-trace-id") or [None])[0]
    return trace if isinstance(trace, str) else None


async def _asgi_get(app: Any, path: str, *, authorization: bytes | None = None) -> int:
    """One in-process GET (SnapStart warm-up): no event, no access log."""
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"snapstart.local")]
        + ([(b"authorization", authorization)] if authorization else []),
        "client": ("127.0.0.1", 0),
        "server": ("snapstart.local", 443),
    }
    await app(scope, receive, send)
    return status


# --- the execution environment -------------------------------------------------------------


def _import_app_main() -> ModuleType:
    """``app.main``, with email-validator hidden while FastAPI is first imported.

    FastAPI imports email-validator at import time (~22 ms of cold start, compiling its
    regexes) only to type the contact e-mail of OpenAPI's Info, which we never set. Our own
    EmailStr fields import it for real, with the routers that use them.
    """
    hide = "email_validator" not in sys.modules
    if hide:
        sys.modules["email_validator"] = None  # type: ignore[assignment]  # makes it ImportError
    try:
        import app.main
    finally:
        if hide and sys.modules.get("email_validator", False) is None:
            del sys.modules["email_validator"]
    return app.main


class Environment:
    """Everything that lives as long as the execution environment."""

    def __init__(self, settings: Settings) -> None:
        if settings.tracing_enabled and importlib.util.find_spec("aws_xray_sdk") is None:
            raise SettingsError(
                "TRACING_ENABLED needs the X-Ray SDK: bundle aws-lambda-powertools[tracer] "
                "or add a layer that has it"
            )
        # Mangum runs each request on the thread's current loop; ours, set once, holds the
        # engine's connection between invocations (3.12+ warn if none is set).
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.settings = settings
        self.main = _import_app_main()
        self.resources = Resources(settings)
        self.metrics = Metrics(
            namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE),
            service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
        )
        self.app: FastAPI = self.main.create_app(
            settings,
            defer_routers=True,
            resources=self.resources,
            metrics=EmfMetrics(self.metrics),
        )
        self.logger = _configure_logging(settings)
        self.adapter = make_adapter(self.main.OnDemandRouters(self.app))
        self.tracer: Tracer | None = None
        handle: LambdaHandler = self.logger.inject_lambda_context(clear_state=True)(self._serve)
        handle = self.metrics.log_metrics(capture_cold_start_metric=True)(handle)
        if settings.tracing_enabled:
            # Only here: the X-Ray SDK is a quarter of a second of cold start.
            from aws_lambda_powertools import Tracer

            self.tracer = Tracer(service=self.logger.service)
            handle = self.tracer.capture_lambda_handler(handle)
        self.handle = handle
        _register_snapstart_hooks(self)

    def _serve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.logger.set_correlation_id(correlation_id(event))
        return self.adapter(event, context)

    # SnapStart: the snapshot is taken after init, restored into many environments.

    def before_snapshot(self) -> None:
        """Load and build what the first requests would, so restored copies start warm: the
        routers, SQLAlchemy's mappers, the authenticated request path (PyJWT, dependencies,
        problem+json), and the connect path (IAM signing, asyncpg, the dialect's first-connect
        queries, a compiled ORM read). The connection is closed again: no socket survives a
        restore, and after_restore re-signs the token."""
        from sqlalchemy.orm import configure_mappers

        self.main.include_routers(self.app)
        configure_mappers()
        if self.settings.db_iam_auth:
            # The signer's imports, even if the database cannot be reached from here.
            import botocore.auth
            import botocore.awsrequest
            import botocore.session  # noqa: F401
        access = logging.getLogger("app.access")
        access.disabled = True
        try:
            status = self.loop.run_until_complete(_asgi_get(self.app, "/health"))
            self.metrics.clear_metrics()  # warming requests are not traffic
            # A token that fails verification: the whole auth path, no database.
            refused = self.loop.run_until_complete(
                _asgi_get(self.app, "/v1/users/me", authorization=b"Bearer warm.up.token")
            )
            self.metrics.clear_metrics()
            connected = self.loop.run_until_complete(self._warm_connect_path())
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

    async def _warm_connect_path(self) -> bool:
        """One ORM read by primary key over a fresh connection, then every connection closed.
        An unreachable database only costs the warm-up (the first request connects)."""
        import uuid

        from app.auth.models import User

        try:
            async with (
                asyncio.timeout(SNAPSHOT_CONNECT_TIMEOUT_S),
                self.resources.db.sessions() as session,
            ):
                await session.get(User, uuid.UUID(int=0))
        except Exception as exc:
            logger.warning(
                "snapstart: database not reachable before the snapshot",
                extra={"error": type(exc).__name__},
            )
            return False
        finally:
            await self.resources.disconnect()
        return True

    def after_restore(self) -> None:
        """Every restored copy starts from the same memory: new randomness, no inherited
        connections, a token signed with the credentials this copy was given."""
        random.seed()
        from app.db import IamAuthToken

        IamAuthToken.reset_all()
        self.loop.run_until_complete(self.resources.disconnect())
        logger.info("snapstart: restored")


def _register_snapstart_hooks(environment: Environment) -> None:
    # The runtime's module exists only where SnapStart can run (and in our emulator).
    if importlib.util.find_spec("snapshot_restore_py") is None:
        return
    from snapshot_restore_py import register_after_restore, register_before_snapshot

    register_before_snapshot(environment.before_snapshot)
    register_after_restore(environment.after_restore)


_environment: Environment | None = None


def environment() -> Environment:
    global _environment
    if _environment is None:
        _environment = Environment(lambda_settings())
    return _environment


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return environment().handle(event, context)


# In Lambda (and the emulator) this import is the init phase: pay for settings, the app and
# logging here, once, where SnapStart can capture it, rather than in the first request.
if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    environment()
