"""JSON logs with secrets scrubbed, request context, and request metrics: Prometheus on
containers, CloudWatch EMF on Lambda, both fed by the request middleware."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics as PowertoolsMetrics
    from sqlalchemy.ext.asyncio import AsyncEngine

    from app.config import Settings

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# Fields every line written in this context carries, set by an entry point (on Lambda: the
# invocation's request id, function name and cold start).
log_fields_var: ContextVar[dict[str, Any] | None] = ContextVar("log_fields", default=None)

# Applied to every text a line holds, tracebacks included, so a secret that slips into an
# exception message or a library's debug line is still not written.
_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
_SECRET_NAMES = (
    "password",
    "passwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "authorization",
    "cookie",
    "set-cookie",
)
_SECRET_KEYS = frozenset(_SECRET_NAMES)
_KEYED_SECRET = re.compile(
    rf"""(?ix)
    (["']?(?:{"|".join(_SECRET_NAMES)})
    ["']?\s*[:=]\s*)
    ("[^"]*"|'[^']*'|(?:bearer\s+)?[^\s,;&}}\]]+)
    """
)
REDACTED = "[REDACTED]"
# Every name in _SECRET_NAMES contains one of these. In ASCII text a case-insensitive match
# needs one in the lowered text, so most texts skip that regex, which costs tens of
# microseconds per line.
_SECRET_NAME_PARTS = ("passw", "secret", "token", "authorization", "cookie")


def scrub(text: str) -> str:
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if text.isascii():
        lowered = text.lower()
        if not any(part in lowered for part in _SECRET_NAME_PARTS):
            return text
    return _KEYED_SECRET.sub(lambda m: m.group(1) + REDACTED, text)


def _may_hold_secret(line: str) -> bool:
    """False for a JSON line no text or key of which scrubbing could change: ASCII only
    (json.dumps writes the rest as \\u escapes), no JWT's start, no part of a secret's name."""
    if "eyJ" in line or "\\u" in line:
        return True
    lowered = line.lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS)


# Built once: json.dumps with ``default`` makes a new encoder for every call.
_encode_line = json.JSONEncoder(default=str).encode


def _scrubbed(value: Any) -> Any:
    """``value`` with every text in it scrubbed, and whatever a secret's name holds redacted."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if str(key).lower() in _SECRET_KEYS else _scrubbed(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


def _scrubbed_text(value: object) -> str:
    return scrub(str(value))


# Not fields of ours: "color_message" is Uvicorn's copy of msg with terminal colours.
_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        fields = log_fields_var.get()
        if fields:
            entry.update(fields)
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        line = _encode_line(entry)
        if not _may_hold_secret(line):
            return line
        # Scrubbed before encoding, not after: a redaction then never breaks the JSON, and
        # JSON inside a text (a message body) is matched as written, not as escaped.
        return json.dumps(_scrubbed(entry), default=_scrubbed_text)


_CREDENTIAL_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3")


def configure_logging(settings: Settings) -> None:
    """Every entry point's one call: our JSON lines on stderr, secrets scrubbed, from one
    handler on the root logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    from app.config import Target

    if settings.target is Target.LAMBDA:
        # The runtime's own plain-text handler would print every record a second time.
        logging.basicConfig(handlers=[handler], force=True)
    else:
        # Only ours is replaced: a host's handlers (a test runner's capture) stay.
        root = logging.getLogger()
        for existing in list(root.handlers):
            if isinstance(existing.formatter, JsonFormatter):
                root.removeHandler(existing)
        root.addHandler(handler)
    # Our JSON lines never print where a call came from, or the thread or process: skip
    # collecting them for every record (the logging HOWTO's "Optimization" list).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    set_levels(settings)


def set_levels(settings: Settings) -> None:
    """Levels for every entry point."""
    root = logging.getLogger()
    root.setLevel(settings.observability.log_level)
    # Uvicorn's own access log would duplicate ours (and log raw query strings).
    logging.getLogger("uvicorn.access").disabled = True
    # LOG_LEVEL=DEBUG is for our code: at DEBUG botocore logs every signed request, with its
    # Authorization header and the session token of the task or function role.
    for name in _CREDENTIAL_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.getEffectiveLevel()))
    logging.getLogger("sqlalchemy.engine").setLevel(
        logging.INFO if settings.db.echo else logging.WARNING
    )
    logging.getLogger("mangum").setLevel(logging.WARNING)  # a line per request, as ours


access_logger = logging.getLogger("app.access")


class RequestMetrics(Protocol):
    """Where the request middleware reports each request it served."""

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None: ...

    def observe_pool(self, engine: AsyncEngine) -> None: ...


class EmfMetrics:
    """Lambda's sink: CloudWatch EMF through Powertools, one blob per invocation with the
    route as its dimension (Powertools' ``log_metrics`` around the handler writes it).

    Given the function ``version`` (AWS_LAMBDA_FUNCTION_VERSION), the same values are also
    filed under a second dimension set, (service, version): a canary's rollback alarms watch
    the new version's 5xx count and p99 latency across routes, which CloudWatch cannot
    aggregate from per-route metrics (percentiles do not add up)."""

    def __init__(self, metrics: PowertoolsMetrics, *, version: str | None = None) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics = metrics
        self.count, self.milliseconds = MetricUnit.Count, MetricUnit.Milliseconds
        self.version = version

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.metrics.add_dimension(name="route", value=route)
        if self.version:
            by_version = {"service": str(self.metrics.service), "version": self.version}
            # One set per blob, whatever number of requests this invocation observed.
            if by_version not in self.metrics.provider.dimension_sets:
                self.metrics.add_dimensions(**by_version)
        self.metrics.add_metric(name="requests", unit=self.count, value=1)
        self.metrics.add_metric(name="errors", unit=self.count, value=int(status >= 500))
        self.metrics.add_metric(name="latency", unit=self.milliseconds, value=seconds * 1000)

    def observe_pool(self, engine: AsyncEngine) -> None:
        """Nothing: a Lambda environment's pool is one connection, serving one request."""


class Metrics:
    """Containers' sink: Prometheus; multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set
    (Gunicorn)."""

    def __init__(self) -> None:
        import prometheus_client as prom  # containers only: Lambda never pays this import

        self._prom = prom
        self.requests = prom.Counter(
            "http_requests_total", "HTTP requests", ["method", "route", "status"]
        )
        self.latency = prom.Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.pool_in_use = prom.Gauge(
            "db_pool_connections_in_use",
            "Connections checked out of the pool",
            multiprocess_mode="livesum",
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.pool_overflow = prom.Gauge(
            "db_pool_overflow", "Connections open beyond pool_size", multiprocess_mode="livesum"
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        # The labelled children, looked up once per (method, route, status): the callers
        # bound each label to a small set (route templates, known methods).
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_pool(self, engine: AsyncEngine) -> None:
        pool: Any = engine.pool
        if hasattr(pool, "checkedout"):
            self.pool_in_use.set(pool.checkedout())
            self.pool_overflow.set(max(pool.overflow(), 0))

    def render(self) -> tuple[bytes, str]:
        prom = self._prom
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = prom.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST
        return prom.generate_latest(), prom.CONTENT_TYPE_LATEST


_metrics: Metrics | None = None


def get_metrics() -> Metrics:
    """One set of collectors per process (prometheus-client registers them globally)."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


def now() -> float:
    return time.perf_counter()
