"""RFC 9457 problem details: one shape for every 4xx and 5xx the service sends."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.examples import with_example

# Re-exported: the routers and services know problems by this module.
from app.problems import PROBLEM_BASE as PROBLEM_BASE
from app.problems import PROBLEM_MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from app.problems import AppError as AppError
from app.problems import problem_body, slug_for

logger = logging.getLogger("app.errors")


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Problem details (RFC 9457). ``type`` is stable; clients branch on it."""

    model_config = with_example(
        {
            "type": f"{PROBLEM_BASE}not-found",
            "title": "Not Found",
            "status": 404,
            "detail": "job not found",
            "instance": "/v1/jobs/6a1f0c2e-2b5e-4a57-9d0e-3c1f2a8b9e10",
            "request_id": "b3f7c1de2a8e4c0f9b6a5d4e3c2b1a09",
        }
    )

    type: str = Field(description="Stable URI naming the kind of problem.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="Per-field errors (validation problems only)."
    )


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    request: Request,
    status: int,
    slug: str,
    *,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> ProblemResponse:
    body = problem_body(
        status,
        slug,
        detail=detail,
        instance=request.url.path,
        request_id=request.scope.get("state", {}).get("request_id"),
        errors=errors,
    )
    return ProblemResponse(body, status_code=status, headers=headers)


async def _app_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, AppError)
    return problem_response(request, exc.status, exc.slug, detail=exc.detail, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(
        request,
        exc.status_code,
        slug_for(exc.status_code),
        detail=detail,
        headers=dict(exc.headers or {}),
    )


def _jsonable_loc(loc: Any) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo the rejected input back: it may be a password.
    errors = [
        {"loc": _jsonable_loc(err.get("loc", ())), "msg": err.get("msg", ""), "type": err["type"]}
        for err in exc.errors()
    ]
    malformed = any(err["type"] == "json_invalid" for err in errors)
    detail = "request body is not valid JSON" if malformed else "request is invalid"
    return problem_response(request, 422, "validation-error", detail=detail, errors=errors)


async def _pool_timeout(request: Request, exc: Exception) -> ProblemResponse:
    logger.warning("database pool exhausted")
    return problem_response(
        request,
        503,
        "database-busy",
        detail="all database connections are busy; retry shortly",
        headers={"Retry-After": "1"},
    )


# PostgreSQL cannot store U+0000 in text (22021) or in JSON(B) (22P05): input the client can
# fix, so a 422 rather than the 500 any unmapped database error becomes.
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


async def _database_error(request: Request, exc: Exception) -> ProblemResponse:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and not exc.connection_invalidated:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == "57014":  # statement_timeout
            return problem_response(
                request, 504, "request-timeout", detail="database statement timed out"
            )
        if sqlstate in _UNSTORABLE_TEXT:
            return problem_response(
                request, 422, "invalid-text", detail="text may not contain NUL (U+0000) characters"
            )
        if not _is_connection_error(exc):
            raise exc
    logger.warning("database unavailable", extra={"error": type(exc).__name__})
    return problem_response(
        request,
        503,
        "database-unavailable",
        detail="the database is unreachable; retry shortly",
        headers={"Retry-After": "5"},
    )


def _is_connection_error(exc: Exception) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    if isinstance(exc, InterfaceError | OperationalError):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(orig, OSError) or type(orig).__name__ in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "InterfaceError",
    }


def install_error_handlers(app: FastAPI) -> None:
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # asyncpg raises plain OSError (connection refused, socket gone) before SQLAlchemy wraps it.
    app.add_exception_handler(OSError, _database_error)
    app.add_exception_handler(PoolTimeout, _pool_timeout)
    app.add_exception_handler(DBAPIError, _database_error)


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
# Response headers some problems carry; declared so clients find them in the document.
_PROBLEM_HEADERS: dict[int, dict[str, dict[str, Any]]] = {429: _RETRY_AFTER, 503: _RETRY_AFTER}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations for the problem responses an operation can give."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {"model": Problem, "description": HTTPStatus(status).phrase}
        if status in _PROBLEM_HEADERS:
            response["headers"] = _PROBLEM_HEADERS[status]
        responses[status] = response
    return responses


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# FastAPI's own 422 body, which our handler never sends.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def problems_as_problem_json(schema: dict[str, Any]) -> dict[str, Any]:
    """Every 4xx/5xx is documented as application/problem+json with the Problem schema.

    FastAPI documents response models as application/json, and adds its own
    ``HTTPValidationError`` 422 to operations that declare none; neither is what we send.
    """
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):  # path-level "parameters"
                continue
            for status, response in operation.get("responses", {}).items():
                if status[:1] not in {"4", "5"}:
                    continue
                content = response.get("content", {})
                media = content.get("application/json") or content.get(PROBLEM_MEDIA_TYPE) or {}
                response["content"] = {PROBLEM_MEDIA_TYPE: {**media, "schema": dict(_PROBLEM_REF)}}
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" not in components:
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        others = {key: value for key, value in schema.items() if key != "components"}
        others["schemas"] = {key: value for key, value in components.items() if key != name}
        if name in components and f'"#/components/schemas/{name}"' not in json.dumps(others):
            del components[name]
    return schema
