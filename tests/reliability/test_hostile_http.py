"""Hostile HTTP: what a client can send besides a well-formed request.

Body-level abuse is checked in-process; framing, header and timing abuse against a real
uvicorn (the parser is part of what is under test). Every answer is a 4xx (a problem+json when
the app sees the request), never a 5xx, and the server keeps serving everyone else.
Also elsewhere: oversized and chunked bodies (413), malformed JSON, slow handlers (504) in
tests/test_http.py.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, assert_problem, auth_headers
from tests.reliability.conftest import bearer_for, scaled

REQUEST_TIMEOUT_S = 2.0
JSON = {"content-type": "application/json"}


@pytest.fixture
async def headers(client: httpx.AsyncClient) -> dict[str, str]:
    return await auth_headers(client)


async def test_deeply_nested_json_is_a_400_problem(client: Any, headers: dict[str, str]) -> None:
    depth = 100_000  # within the 1 MiB body limit; deeper than any parser recursion limit
    response = await client.post(
        "/v1/jobs", content=b"[" * depth + b"]" * depth, headers={**headers, **JSON}
    )
    assert_problem(response, 400, "bad-request")
    nested = b'{"kind": "sleep", "input": ' + b'{"a": ' * 500 + b"1" + b"}" * 501
    assert_problem(
        await client.post("/v1/jobs", content=nested, headers={**headers, **JSON}),
        422,
        "invalid-job-input",
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind": "sleep", "input": {"seconds": ' + b"9" * 5000 + b"}}",  # past int's limit
        b'{"kind": "sleep\xff\xfe", "input": {}}',  # not UTF-8
    ],
    ids=["5000-digit number", "invalid UTF-8"],
)
async def test_unparseable_bodies_are_400_problems(
    client: Any, headers: dict[str, str], body: bytes
) -> None:
    assert_problem(
        await client.post("/v1/jobs", content=body, headers={**headers, **JSON}),
        400,
        "bad-request",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "sleep", "input": {}, "idempotency_key": "a\x00b"},
        {"kind": "fail", "input": {"message": "a\x00b"}},
    ],
    ids=["in a column", "in JSONB"],
)
async def test_nul_characters_are_422_not_500(
    client: Any, headers: dict[str, str], body: dict[str, Any]
) -> None:
    # PostgreSQL cannot store U+0000 in text; this was a 500 before errors.py mapped it.
    response = await client.post("/v1/jobs", json=body, headers=headers)
    assert_problem(response, 422, "invalid-text")
    assert (await client.get("/v1/jobs", headers=headers)).json()["items"] == []


async def test_nul_in_a_login_name_is_422_not_500(client: Any) -> None:
    response = await client.post("/v1/auth/token", data={"username": "a\x00@x.io", "password": "p"})
    assert_problem(response, 422, "invalid-text")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "multipart/form-data; boundary=x", "", "application/x-yaml"],
)
async def test_unknown_content_types_are_rejected(
    client: Any, headers: dict[str, str], content_type: str
) -> None:
    response = await client.post(
        "/v1/jobs",
        content=b'{"kind": "sleep", "input": {}}',
        headers={**headers, "content-type": content_type},
    )
    assert_problem(response, 422, "validation-error")
    assert (await client.get("/v1/jobs", headers=headers)).json()["items"] == []


@pytest.mark.parametrize(
    "query",
    ["limit=" + "9" * 40, "limit=-1", "limit=0", "limit=101", "limit=1e3", "limit=NaN"],
)
async def test_huge_or_malformed_limits_are_422(
    client: Any, headers: dict[str, str], query: str
) -> None:
    for path in ("/v1/jobs", "/v1/files"):
        response = await client.get(f"{path}?{query}", headers=headers)
        assert_problem(response, 422, "validation-error")


# --- against a real server: framing, headers, timing -------------------------------------


@pytest.fixture(scope="module")
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server(REQUEST_TIMEOUT_S=str(REQUEST_TIMEOUT_S))


def exchange(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Send raw bytes, read until the server closes (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def status_of(raw: bytes) -> int:
    assert raw.startswith(b"HTTP/1.1 "), raw[:100]
    return int(raw.split(b" ", 2)[1])


def json_post_head(path: str, content_length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {content_length}\r\nConnection: close\r\n\r\n"
    ).encode()


def healthy(server: ServerProcess) -> bool:
    return httpx.get(server.base_url + "/health", timeout=5).status_code == 200


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "request_bytes",
    [
        # Request smuggling shapes: both framings, two lengths, a non-numeric length.
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",  # NUL in a header
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),  # TLS to plain HTTP
    ],
    ids=["CL+TE", "two CL", "bad CL", "NUL header", "TLS hello"],
)
def test_malformed_framing_is_refused_with_400(server: ServerProcess, request_bytes: bytes) -> None:
    assert status_of(exchange(server.port, request_bytes)) == 400
    assert healthy(server)


@pytest.mark.subprocess
def test_declared_oversized_body_is_413_before_it_is_sent(server: ServerProcess) -> None:
    started = time.monotonic()
    raw = exchange(server.port, json_post_head("/v1/jobs", 100 * 2**20))
    assert status_of(raw) == 413
    assert b"application/problem+json" in raw
    assert time.monotonic() - started < REQUEST_TIMEOUT_S  # no wait for the 100 MB


@pytest.mark.subprocess
def test_slow_body_hits_the_request_timeout_with_504(server: ServerProcess) -> None:
    started = time.monotonic()
    head = json_post_head("/v1/auth/register", 100) + b"{"  # then nothing more
    raw = exchange(server.port, head, timeout=REQUEST_TIMEOUT_S + 10)
    elapsed = time.monotonic() - started
    assert status_of(raw) == 504
    assert b'"type":"https://trident.dev/problems/request-timeout"' in raw
    assert REQUEST_TIMEOUT_S * 0.9 <= elapsed < REQUEST_TIMEOUT_S + 5


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "header_block",
    [b"X-Big: " + b"a" * (1 << 20) + b"\r\n", b"".join(b"X-H%d: v\r\n" % i for i in range(5000))],
    ids=["one 1 MiB header", "5000 headers"],
)
def test_oversized_headers_never_break_the_server(
    server: ServerProcess, header_block: bytes
) -> None:
    """uvicorn's httptools parser sets no header size limit: such a request is served. In
    production the ALB (64 KiB of headers) or API Gateway (10 KiB) refuses it first."""
    bearer = bearer_for(server.base_url)["Authorization"].encode()
    raw = exchange(
        server.port,
        b"GET /v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + bearer
        + b"\r\n"
        + header_block
        + b"Connection: close\r\n\r\n",
    )
    assert status_of(raw) == 200
    assert healthy(server)


@pytest.mark.subprocess
async def test_slowloris_connections_do_not_starve_other_clients(server: ServerProcess) -> None:
    """Connections that never finish their request head: uvicorn has no header timeout, so
    they stay open (the ALB or API Gateway in front holds them instead); what must hold here is
    that they cost the event loop nothing."""
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(scaled(200, 1000)):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append((reader, writer))
    await asyncio.gather(*(writer.drain() for _, writer in held))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
            for _ in range(5):
                started = time.monotonic()
                assert (await client.get("/health")).status_code == 200
                assert time.monotonic() - started < 1
    finally:
        for _, writer in held:
            writer.close()
