"""Lambda entry point of the HTTP API: ``handlers.api.handler``.

One ``Environment`` per execution environment, made in the init phase (Lambda imports this
module before the first invoke): settings, logging, metrics, the process's ``Resources``, and
the app as ``app.deferred.Deferred``: /health is answered without FastAPI, and each app a
request needs (one router group's, or the full app) is built by the first request for it.
Mangum runs with lifespan off (it would otherwise enter the ASGI lifespan around every
invocation) and drives each request with ``run_until_complete`` on the loop set here, where
the engine's one connection lives on between invocations.

Works for API Gateway HTTP APIs (payload 2.0 and 1.0), REST APIs and ALB target groups, with
or without a stage in the path (``handlers.events``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics
from mangum import Mangum

from app.config import Settings, SettingsError
from app.deferred import Deferred, health_app
from app.observability import EmfMetrics, configure_logging
from app.resources import Resources
from handlers import invocation, lambda_settings, snapstart
from handlers.events import EventQuirks, correlation_id

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer
    from fastapi import FastAPI

SERVICE = "trident-api"
DEFAULT_NAMESPACE = "Trident"
# Sent as text, anything else as base64: problem+json too.
TEXT_MIME_TYPES = ["text/", "application/json", "application/javascript", "+json"]


def make_adapter(app: Any) -> Mangum:
    """Mangum for any ASGI app: lifespan off, our event fixes, our text types."""
    return Mangum(EventQuirks(app), lifespan="off", text_mime_types=TEXT_MIME_TYPES)


class Environment:
    """Everything that lives as long as the execution environment."""

    def __init__(self, settings: Settings) -> None:
        if (
            settings.observability.tracing_enabled
            and importlib.util.find_spec("aws_xray_sdk") is None
        ):
            raise SettingsError(
                "TRACING_ENABLED needs the X-Ray SDK: bundle aws-lambda-powertools[tracer] "
                "or add a layer that has it"
            )
        settings.auth.key_ring()  # a missing or malformed key ring fails the init, not a request
        # Mangum runs each request on the thread's current loop; ours, set once, holds the
        # engine's connection between invocations (3.12+ warn if none is set).
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.settings = settings
        configure_logging(settings)
        service = os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE)
        self.metrics = Metrics(
            namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE),
            service=service,
        )
        self.resources = Resources(settings)
        # "$LATEST" unless invoked as a published version (the alias `live` always is).
        emf = EmfMetrics(self.metrics, version=os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"))
        light = health_app(settings, metrics=emf, resources=self.resources)
        self.app = Deferred(light, lambda group: self._build_app(emf, group))
        self.adapter = make_adapter(self.app)
        self.tracer: Tracer | None = None
        handle = self.metrics.log_metrics(capture_cold_start_metric=True)(self._serve)
        if settings.observability.tracing_enabled:
            # Only here: the X-Ray SDK is a quarter of a second of cold start.
            from aws_lambda_powertools import Tracer

            self.tracer = Tracer(service=service)
            handle = self.tracer.capture_lambda_handler(handle)
        self._handle: Callable[[dict[str, Any], Any], dict[str, Any]] = handle
        snapstart.register(self)

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        # API Gateway's request id (an ALB's trace id) is the request's X-Request-ID and
        # every line's request_id, unless the client sent its own.
        with invocation(context, correlation_id(event)):
            return self._handle(event, context)

    def _serve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self.adapter(event, context)

    def _build_app(self, metrics: EmfMetrics, group: str | None) -> FastAPI:
        from app.main import build_app

        groups = None if group is None else (group,)
        return build_app(self.settings, resources=self.resources, metrics=metrics, groups=groups)


_environment: Environment | None = None


def environment() -> Environment:
    global _environment
    if _environment is None:
        _environment = Environment(lambda_settings())
    return _environment


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return environment().handle(event, context)


# In Lambda (and the emulator) this import is the init phase: pay for settings, logging and
# the /health app here, once, where SnapStart can capture it, rather than in the first request.
if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    environment()
