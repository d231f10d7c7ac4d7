from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import assert_problem, auth_headers


def _client(app: Any, base_url: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def test_request_id_is_echoed_or_generated(client: Any) -> None:
    echoed = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/health", headers={"X-Request-ID": "bad id\twith junk"})
    assert len(generated.headers["x-request-id"]) == 32


async def test_security_headers_on_every_response(client: Any) -> None:
    for response in (await client.get("/health"), await client.get("/nope")):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        csp = headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "strict-transport-security" not in headers


async def test_hsts_only_over_https(app: Any) -> None:
    async with _client(app, "https://testserver") as client:
        response = await client.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_authenticated_responses_default_to_no_store(client: Any) -> None:
    response = await client.get("/health", headers={"Authorization": "Bearer x"})
    assert response.headers["cache-control"] == "private, no-store"


async def test_unknown_route_and_method_are_problems(client: Any) -> None:
    assert_problem(await client.get("/v1/nothing-here"), 404, "not-found")
    assert_problem(await client.delete("/health"), 405, "method-not-allowed")


async def test_malformed_json_is_422_problem(client: Any) -> None:
    response = await client.post(
        "/v1/auth/register", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422, "validation-error")
    assert body["detail"] == "request body is not valid JSON"


async def test_oversized_body_by_content_length_is_413(app_factory: Any) -> None:
    app = app_factory(max_body_bytes=2048)
    async with _client(app) as client:
        response = await client.post("/v1/auth/register", content=b"x" * 4096)
    assert_problem(response, 413, "payload-too-large")


async def test_non_ascii_digit_content_length_is_a_400_problem(app: Any) -> None:
    # "²" passes str.isdigit() but not int(); a Lambda event can carry it past the parser.
    async with _client(app) as client:
        response = await client.post(
            "/v1/auth/register", headers={b"Content-Length": "\xb2".encode("latin-1")}
        )
    assert_problem(response, 400, "bad-request")


def test_vary_names_origin_once_and_whole() -> None:
    from app.middleware import with_defaults

    def vary(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
        return [value for name, value in with_defaults(headers, b"id", []) if name == b"vary"]

    assert vary([(b"vary", b"X-Origin-Trial")]) == [b"X-Origin-Trial, Origin"]
    assert vary([(b"vary", b"Accept, origin")]) == [b"Accept, origin"]
    assert vary([(b"vary", b"Accept"), (b"vary", b"Cookie")]) == [b"Accept, Origin", b"Cookie"]
    assert vary([]) == [b"Origin"]


async def test_oversized_chunked_body_is_413(app_factory: Any) -> None:
    app = app_factory(max_body_bytes=2048)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b'{"pad": "' + b"x" * 500 + b'"}'

    async with _client(app) as client:
        response = await client.post(
            "/v1/auth/register", content=chunks(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")


async def test_slow_handler_hits_request_timeout_with_504(app_factory: Any) -> None:
    app = app_factory(request_timeout_s=0.2)

    @app.get("/v1/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(5)
        return {"late": "yes"}

    async with _client(app) as client:
        response = await client.get("/v1/slow")
    assert_problem(response, 504, "request-timeout")


async def test_request_timeout_fires_once_per_slow_request_and_spares_quick_ones(
    app_factory: Any,
) -> None:
    app = app_factory(request_timeout_s=0.3)

    @app.get("/v1/pause")
    async def pause(seconds: float) -> dict[str, float]:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    async with _client(app) as client:
        started = asyncio.get_running_loop().time()
        answers = await asyncio.gather(
            client.get("/v1/pause", params={"seconds": 5}),
            client.get("/v1/pause", params={"seconds": 0.05}),
            client.get("/v1/pause", params={"seconds": 5}),
        )
        elapsed = asyncio.get_running_loop().time() - started
        # A later request on the same loop gets its own full timeout.
        later = await client.get("/v1/pause", params={"seconds": 0.2})
    assert_problem(answers[0], 504, "request-timeout")
    assert answers[1].status_code == 200
    assert_problem(answers[2], 504, "request-timeout")
    assert 0.3 <= elapsed < 2
    assert later.json() == {"slept": 0.2}


async def test_a_cancellation_from_outside_is_not_taken_for_a_timeout(app_factory: Any) -> None:
    """The server cancelling a request (shutdown, a client gone) propagates, even when the
    request's deadline has also passed: it is never answered as a 504."""
    app = app_factory(request_timeout_s=0.2)
    entered = asyncio.Event()

    @app.get("/v1/stuck")
    async def stuck() -> None:
        entered.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            await asyncio.sleep(0.5)  # past the deadline while handling the cancel
            raise

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/v1/stuck", "raw_path": b"/v1/stuck", "query_string": b"",
        "root_path": "", "headers": [], "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    request = asyncio.create_task(app(scope, receive, send))
    await entered.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert [m for m in sent if m["type"] == "http.response.start"] == []


async def test_unexpected_error_is_500_with_request_id_and_no_trace(app: Any) -> None:
    @app.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with _client(app) as client:
        response = await client.get("/v1/boom", headers={"X-Request-ID": "req-500"})
    body = assert_problem(response, 500, "internal-error")
    assert body["request_id"] == "req-500"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize("origin", ["https://app.example"])
async def test_cors_allows_configured_origin(app_factory: Any, origin: str) -> None:
    app = app_factory(cors_origins=[origin])
    async with _client(app) as client:
        ok = await client.options(
            "/v1/auth/register",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == origin
        evil = await client.options(
            "/v1/auth/register",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert_problem(evil, 400, "cors-rejected")
        assert "access-control-allow-origin" not in evil.headers
        simple = await client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers
        allowed = await client.get("/health", headers={"Origin": origin})
        assert allowed.headers["access-control-allow-origin"] == origin
        plain = await client.get("/health")
    # The answer depends on Origin whether the request sent one or not: a shared cache must
    # not hand a response made for one to the other. Named once, never twice.
    for response in (simple, allowed, plain):
        assert response.headers.get_list("vary") == ["Origin"], response.headers


async def test_me_with_token_has_private_cache_headers(client: Any) -> None:
    headers = await auth_headers(client)
    response = await client.get("/v1/users/me", headers=headers)
    assert response.headers["cache-control"] == "private, no-cache"
