"""ETag / If-None-Match for single resources."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

# Revalidate every time (the ETag makes that cheap), keep it out of shared caches.
REVALIDATE = "private, no-cache"

_ETAG_HEADER = {
    "description": "Entity tag of the representation; send it back in If-None-Match.",
    "schema": {"type": "string"},
}
# OpenAPI for an operation answered with ``conditional_json``.
CONDITIONAL_GET_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"headers": {"ETag": _ETAG_HEADER}},
    304: {"description": "Not Modified (If-None-Match matched)", "headers": {"ETag": _ETAG_HEADER}},
}


def etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): W/ prefixes do not matter for If-None-Match.
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def conditional_json(request: Request, payload: BaseModel) -> Response:
    """200 with an ETag, or 304 when the client already holds this representation."""
    body = payload.model_dump_json().encode()
    headers = {"ETag": etag_for(body), "Cache-Control": REVALIDATE}
    if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
