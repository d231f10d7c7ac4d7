"""Liveness, readiness and metrics: what load balancers and scrapers call."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from app.errors import AppError, problem_responses
from app.examples import with_example
from app.observability import get_metrics

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    model_config = with_example({"status": "ok"})

    status: str


@router.get("/health", response_model=Health, name="health", summary="Liveness; touches nothing")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Health,
    name="ready",
    summary="Readiness: the database answers within READY_TIMEOUT_S",
    responses=problem_responses(503),
)
async def ready(request: Request) -> Health:
    # Imported here: this module is on the /health path, which must not load SQLAlchemy.
    from sqlalchemy import text

    from app.deps import database_of, settings_of

    db = database_of(request)
    timeout = settings_of(request).http.ready_timeout_s
    try:
        async with asyncio.timeout(timeout):
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise AppError(
            503,
            "not-ready",
            f"database did not answer within {timeout:g} s",
            headers={"Retry-After": "5"},
        ) from exc
    return Health(status="ready")


metrics_router = APIRouter()


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = get_metrics().render()
    return Response(body, media_type=content_type)
