"""RFC 9457 problem details without a web framework: the bodies, their encoding, ``AppError``.

Apart from ``app.errors`` (FastAPI's handlers and the OpenAPI declarations) so the request
middleware, and with it Lambda's /health app, never imports FastAPI.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://trident.dev/problems/"


class AppError(Exception):
    """An expected failure that maps to one problem response."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or slug)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}


# Slugs for statuses raised by the framework rather than by our code.
_STATUS_SLUGS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "internal-error",
    503: "service-unavailable",
    504: "request-timeout",
}


def slug_for(status: int) -> str:
    return _STATUS_SLUGS.get(status, f"http-{status}")


def problem_body(
    status: int,
    slug: str,
    *,
    detail: str | None = None,
    instance: str | None = None,
    request_id: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": HTTPStatus(status).phrase,
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    if request_id is not None:
        body["request_id"] = request_id
    if errors is not None:
        body["errors"] = errors
    return body


def encode_problem(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
