"""Pure ASGI middleware: request context, security headers, body limit and timeout, CORS.

Pure ASGI (not BaseHTTPMiddleware) so streaming bodies are counted as they arrive and
no extra task is spawned per request.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.aws import Duty, current_duty
from app.config import Settings
from app.deadlines import Deadlines
from app.observability import RequestMetrics, access_logger, now, request_id_var
from app.problems import PROBLEM_MEDIA_TYPE, encode_problem, problem_body

if TYPE_CHECKING:
    from app.resources import Resources

logger = logging.getLogger("app.middleware")

# Base64's "+/=" too: API Gateway's request ids use them.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:+/=-]{1,128}$")
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def new_request_id(incoming: str) -> str:
    """The client's X-Request-ID; else the id the platform gave the request, which its entry
    point put in ``request_id_var`` (API Gateway's, on Lambda); else a new one."""
    for candidate in (incoming, request_id_var.get()):
        if candidate and _VALID_REQUEST_ID.match(candidate):
            return candidate
    return os.urandom(16).hex()


def request_id_of(scope: Scope) -> str | None:
    state: dict[str, Any] = scope.get("state", {})
    value = state.get("request_id")
    return value if isinstance(value, str) else None


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    slug: str,
    detail: str,
    headers: dict[str, str] | None = None,
) -> None:
    body = encode_problem(
        problem_body(
            status, slug, detail=detail, instance=scope.get("path"), request_id=request_id_of(scope)
        )
    )
    raw_headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def content_security_policy(settings: Settings) -> str:
    """Strict CSP for the app and upload page; the browser may talk to us and to S3 only."""
    connect = ["'self'"]
    if settings.aws.endpoint_url:
        parts = urlsplit(settings.aws.endpoint_url)
        connect.append(f"{parts.scheme}://{parts.netloc}")
    else:
        connect.append(f"https://{settings.files.bucket}.s3.{settings.aws.region}.amazonaws.com")
        connect.append(f"https://s3.{settings.aws.region}.amazonaws.com")
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {' '.join(connect)}; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


# Swagger UI ships inline bootstrap code and loads its bundle from a CDN; only /docs gets this.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def forwarded_value(headers: Headers, name: str, hops: int) -> str | None:
    """The entry a trusted proxy appended ``hops`` positions from the right, or None."""
    return hop_entry(headers.getlist(name), hops)


def hop_entry(values: list[str], hops: int) -> str | None:
    """``forwarded_value`` over the header's values, in the order they arrived."""
    if hops <= 0:
        return None
    entries = [part.strip() for part in ",".join(values).split(",") if part.strip()]
    if len(entries) < hops:
        return None
    return entries[-hops]


def client_ip(scope: Scope, trusted_proxy_hops: int) -> str:
    """Client address from a source the client cannot forge."""
    event = scope.get("aws.event")
    if isinstance(event, dict):
        context = event.get("requestContext", {})
        source = context.get("http", {}).get("sourceIp") or context.get("identity", {}).get(
            "sourceIp"
        )
        if isinstance(source, str) and source:
            return source
    forwarded = forwarded_value(Headers(scope=scope), "x-forwarded-for", trusted_proxy_hops)
    if forwarded:
        return forwarded
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


# Every response carries these unless the route set its own. Encoded once: this runs per request.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
PRIVATE = (b"cache-control", b"private, no-store")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestContextMiddleware:
    """Outermost layer: request id, security headers, ``Vary: Origin``, access log, metrics,
    last-resort 500. Reads the raw header list once rather than building ``Headers``."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        metrics: RequestMetrics | None = None,
        resources: Resources | None = None,
    ) -> None:
        self.app = app
        self.hops = settings.http.trusted_proxy_hops
        csp = (b"content-security-policy", content_security_policy(settings).encode())
        docs_csp = (b"content-security-policy", DOCS_CSP.encode())
        # Every combination built once: [docs page][over HTTPS][authenticated].
        self.defaults = [
            [
                [
                    (*SECURITY_HEADERS, page_csp, *((HSTS,) * https), *((PRIVATE,) * private))
                    for private in (False, True)
                ]
                for https in (False, True)
            ]
            for page_csp in (csp, docs_csp)
        ]
        self.metrics = metrics
        self.resources = resources  # for the pool gauges, once it has a database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        authenticated = False
        forwarded_proto: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-request-id" and not incoming:
                incoming = value.decode("latin-1")
            elif name == b"authorization":
                authenticated = True
            elif name == b"x-forwarded-proto":
                forwarded_proto.append(value.decode("latin-1"))
        request_id = new_request_id(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        # What ``app.aws.performs`` does, without its extra coroutine per request.
        duty = current_duty.set(Duty.SERVE_HTTP)
        https = scope.get("scheme") == "https" or (
            bool(forwarded_proto) and hop_entry(forwarded_proto, self.hops) == "https"
        )
        defaults = self.defaults[scope["path"] in DOCS_PATHS][https][authenticated]
        status = 500
        started = False
        begin = now()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = with_defaults(
                    message.get("headers", ()), request_id.encode(), defaults
                )
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            logger.exception("unhandled error")
            if not started:
                await send_problem(
                    scope,
                    send_wrapper,
                    500,
                    "internal-error",
                    "unexpected error; quote the request id when reporting it",
                )
        finally:
            elapsed = now() - begin
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope["method"]
            access_logger.info(
                "request",
                extra={
                    "method": method,
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            if self.metrics is not None:
                self.metrics.observe(
                    method=method if method in KNOWN_METHODS else "OTHER",
                    route=template,
                    status=status,
                    seconds=elapsed,
                )
                if self.resources is not None and self.resources.has_db:
                    self.metrics.observe_pool(self.resources.db.engine)
            request_id_var.reset(token)
            current_duty.reset(duty)


def with_defaults(
    headers: Iterable[tuple[bytes, bytes]],
    request_id: bytes,
    defaults: Iterable[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    """The response's headers with our request id, each default the response did not set,
    and Origin in ``Vary``: whether the request sent one or not, CORS makes the answer
    depend on it (so a shared cache must not serve one to the other)."""
    out: list[tuple[bytes, bytes]] = []
    present: set[bytes] = set()
    varies_by_origin = False
    for name, value in headers:
        name = name.lower()
        if name == b"x-request-id":
            continue
        if name == b"vary" and not varies_by_origin:
            # Field names, compared whole: "X-Origin-Trial" is not Origin.
            if b"origin" not in (field.strip() for field in value.lower().split(b",")):
                value += b", Origin"
            varies_by_origin = True
        present.add(name)
        out.append((name, value))
    out.append((b"x-request-id", request_id))
    out.extend(header for header in defaults if header[0] not in present)
    if not varies_by_origin:
        out.append((b"vary", b"Origin"))
    return out


class StartTracker:
    """Wraps ``send`` and remembers whether the response has started (then it is too late
    to answer with a problem instead)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


def is_length(value: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() then refuses."""
    return value.isascii() and value.isdigit()


class LimitsMiddleware:
    """413 on the bytes actually received (chunked bodies included), and a 504 problem when
    the app has not started answering within the request timeout. One layer for both: the
    same start tracker serves them."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.timeout_s = timeout_s
        self.deadlines = Deadlines(timeout_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value.decode("latin-1")
                break
        if declared is not None and (not is_length(declared) or int(declared) > self.limit):
            status, slug = (
                (413, "payload-too-large") if is_length(declared) else (400, "bad-request")
            )
            await send_problem(
                scope, send, status, slug, f"request body exceeds {self.limit} bytes"
            )
            return
        tracking_send = StartTracker(send)
        deadline = self.deadlines.enter()
        try:
            await self.app(scope, self._counting(receive), tracking_send)
        except BaseException as exc:
            timed_out = deadline.timed_out(exc)
            if isinstance(exc, BodyTooLarge) and not tracking_send.started:
                await send_problem(scope, send, 413, "payload-too-large", str(exc.detail))
                return
            if not timed_out:
                raise
            logger.warning("request timed out", extra={"timeout_s": self.timeout_s})
            if tracking_send.started:
                raise TimeoutError from exc
            await send_problem(
                scope,
                send,
                504,
                "request-timeout",
                f"the request did not complete within {self.timeout_s:g} s",
            )
        finally:
            self.deadlines.leave(deadline)

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        return counting_receive


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with rejected preflights answered as problems like every other 4xx.
    A request without ``Origin`` is not a CORS request: it passes straight through (the
    ``Vary: Origin`` Starlette would add comes from ``RequestContextMiddleware``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(name == b"origin" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail = response.body.decode() if isinstance(response.body, bytes) else "CORS rejected"
        return Response(
            encode_problem(problem_body(response.status_code, "cors-rejected", detail=detail)),
            status_code=response.status_code,
            media_type=PROBLEM_MEDIA_TYPE,
            headers={"vary": "Origin"},
        )


def middleware_stack(
    settings: Settings, *, metrics: RequestMetrics | None, resources: Resources | None
) -> list[Middleware]:
    """The layers every app of ours runs behind, outermost first (the full app, and the
    /health app Lambda answers with before it builds the full one)."""
    return [
        Middleware(
            RequestContextMiddleware, settings=settings, metrics=metrics, resources=resources
        ),
        Middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.http.cors_origins,
            allow_credentials=settings.http.cors_allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
            max_age=600,
        ),
        Middleware(
            LimitsMiddleware,
            max_body_bytes=settings.http.max_body_bytes,
            timeout_s=settings.http.request_timeout_s,
        ),
    ]
