from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from app.config import Settings
from app.main import create_app
from tests.conftest import assert_problem


async def test_health_touches_nothing(settings_factory: Any) -> None:
    # Liveness must not depend on the database: none is reachable, and none is even made.
    app = create_app(settings_factory(database_url="postgresql://postgres@127.0.0.1:1/postgres"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert not app.state.resources.has_db


async def test_ready_pings_database(client: Any) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_ready_is_503_problem_when_database_is_down(settings_factory: Any) -> None:
    down = settings_factory(
        database_url="postgresql://postgres@127.0.0.1:1/postgres", ready_timeout_s=1.0
    )
    app = create_app(down)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            response = await client.get("/ready")
            assert_problem(response, 503, "not-ready")
            assert response.headers["retry-after"] == "5"
            db_route = await client.post(
                "/v1/auth/register", json={"email": "a@example.com", "password": "x" * 12}
            )
            assert_problem(db_route, 503, "database-unavailable")
    finally:
        await app.state.resources.close()


async def test_metrics_count_requests_by_route_template(client: Any) -> None:
    await client.get("/health")
    await client.get("/v1/users/me")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'route="/v1/users/me",status="401"' in text
    assert "db_pool_connections_in_use" in text
    assert "http_request_duration_seconds_bucket" in text


async def test_metrics_and_docs_are_off_on_lambda(
    settings_factory: Callable[..., Settings],
) -> None:
    app = create_app(settings_factory(target="lambda", metrics_enabled=None))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404
