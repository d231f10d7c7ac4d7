"""What our events need beyond Mangum's translation, read from the raw event Mangum leaves in
``scope["aws.event"]``: the stage API Gateway puts in front of our paths, and one ``cookie``
header however the event carried them."""

from __future__ import annotations

import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


def rest_stage(event: dict[str, Any]) -> str:
    """REST APIs (and payload 1.0): what the path the client sent has before ``path``."""
    seen = (event.get("requestContext") or {}).get("path")
    own = event.get("path") or "/"
    if not isinstance(seen, str) or not seen.endswith(own):
        return ""
    return seen[: len(seen) - len(own)].rstrip("/")


def http_api_stage(event: dict[str, Any], path: str) -> str:
    """HTTP APIs keep a named stage in the path."""
    stage = (event.get("requestContext") or {}).get("stage")
    if stage and stage != "$default" and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
        return f"/{stage}"
    return ""


def one_cookie_header(headers: list[Any], event: dict[str, Any]) -> list[Any]:
    """Multi-value cookie headers (REST, ALB) become the one ``cookie`` header browsers send,
    joined with '; ' (Mangum joins REST's with ', ' and passes ALB's as duplicates)."""
    cookies = [value.decode() for name, value in headers if name == b"cookie"]
    multi = {k.lower(): v for k, v in (event.get("multiValueHeaders") or {}).items()}
    if isinstance(multi.get("cookie"), list):
        cookies = multi["cookie"]
    if not cookies:
        return headers
    others = [[name, value] for name, value in headers if name != b"cookie"]
    return [*others, [b"cookie", "; ".join(cookies).encode()]]


class EventQuirks:
    """Pure ASGI, between Mangum and the app: the app routes on the path without the stage,
    which ``root_path`` keeps so URLs it builds (Location, problem instances) carry it; cookies
    arrive in one header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event = scope.get("aws.event")
        if scope["type"] == "http" and isinstance(event, dict):
            scope = dict(scope)
            if "resource" in event:  # Mangum's path is without the stage here
                scope["root_path"] = rest_stage(event)
                scope["path"] = scope["root_path"] + scope["path"]
            elif "elb" not in event["requestContext"]:
                scope["root_path"] = http_api_stage(event, scope["path"])
            scope["headers"] = one_cookie_header(scope["headers"], event)
        await self.app(scope, receive, send)


def correlation_id(event: dict[str, Any]) -> str | None:
    """API Gateway's request id; an ALB has none, the root of its trace id is the next best
    thing."""
    request_id = event.get("requestContext", {}).get("requestId")
    if isinstance(request_id, str):
        return request_id
    headers = event.get("headers") or {}
    trace = headers.get("x-amzn-trace-id")
    if trace is None:
        multi = event.get("multiValueHeaders") or {}
        trace = (multi.get("x-amzn-trace-id") or [None])[0]
    root = re.search(r"(?:^|;)Root=([^;]+)", trace) if isinstance(trace, str) else None
    return root[1] if root else None


def http_api_event(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """A request as an HTTP API (payload 2.0, default stage) sends it: for warming up."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "snapstart.local", **headers},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
