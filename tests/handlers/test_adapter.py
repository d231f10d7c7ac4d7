"""Event <-> ASGI translation (handlers.api.make_adapter) against an app that echoes the
request it received: cookies, base64 and binary bodies, query strings, stage prefixes."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.types import Receive, Scope, Send

from handlers.api import make_adapter
from tests.handlers.conftest import FakeContext, load_event

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = [(b"content-type", b"application/json")]
    if scope["path"].endswith("/png"):
        payload, headers = PNG, [(b"content-type", b"image/png")]
    else:
        cookies = [v.decode() for k, v in scope["headers"] if k == b"cookie"]
        payload = json.dumps(
            {
                "path": scope["path"],
                "root_path": scope["root_path"],
                "query": scope["query_string"].decode(),
                "cookies": cookies,
                "body": base64.b64encode(body).decode(),
            }
        ).encode()
    if scope["path"].endswith("/problem"):
        headers = [(b"content-type", b"application/problem+json")]
    headers += [(b"set-cookie", b"a=1; Path=/"), (b"set-cookie", b"b=2; Path=/")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    # Mangum runs its own loop: a thread with none running, as on Lambda.
    def call() -> dict[str, Any]:
        import asyncio

        asyncio.set_event_loop(asyncio.new_event_loop())
        try:
            context: Any = FakeContext()
            return make_adapter(echo_app)(event, context)
        finally:
            asyncio.get_event_loop().close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=30)


def echoed(response: dict[str, Any]) -> dict[str, Any]:
    assert response["statusCode"] == 200
    assert not response["isBase64Encoded"]
    body: dict[str, Any] = json.loads(response["body"])
    return body


def test_http_api_v2_cookies_query_and_base64_body() -> None:
    event = load_event("apigw_http_v2", rawQueryString="a=1&a=2&q=x%20y", isBase64Encoded=True)
    event["body"] = base64.b64encode(b"\x00\x01\xffbinary").decode()
    event["requestContext"]["http"]["method"] = "POST"
    response = invoke(event)
    seen = echoed(response)
    assert seen["cookies"] == ["session=abc123; theme=dark"]
    assert seen["query"] == "a=1&a=2&q=x%20y"
    assert base64.b64decode(seen["body"]) == b"\x00\x01\xffbinary"
    assert (seen["path"], seen["root_path"]) == ("/health", "")
    # Several Set-Cookie headers cannot share one header: payload 2.0 has a list for them.
    assert response["cookies"] == ["a=1; Path=/", "b=2; Path=/"]
    assert "set-cookie" not in response["headers"]


def test_http_api_v2_named_stage() -> None:
    event = load_event("apigw_http_v2", rawPath="/prod/items")
    event["requestContext"]["http"]["path"] = "/prod/items"
    event["requestContext"]["stage"] = "prod"
    seen = echoed(invoke(event))
    assert (seen["path"], seen["root_path"]) == ("/prod/items", "/prod")


def test_binary_responses_are_base64_and_problem_json_is_text() -> None:
    event = load_event("apigw_http_v2", rawPath="/img/png")
    event["requestContext"]["http"]["path"] = "/img/png"
    response = invoke(event)
    assert response["isBase64Encoded"]
    assert base64.b64decode(response["body"]) == PNG
    event["requestContext"]["http"]["path"] = "/problem"
    problem = invoke(event)
    assert not problem["isBase64Encoded"]
    assert problem["headers"]["content-type"] == "application/problem+json"


def test_rest_api_v1_multi_value_headers_and_query() -> None:
    event = load_event(
        "apigw_rest_v1",
        path="/items/7",
        multiValueQueryStringParameters={"tag": ["a", "b"], "q": ["x y"]},
        queryStringParameters={"tag": "b", "q": "x y"},
        body=base64.b64encode(b"\x00raw").decode(),
        isBase64Encoded=True,
    )
    event["requestContext"]["path"] = "/prod/items/7"
    response = invoke(event)
    seen = echoed(response)
    # Two Cookie header values are one cookie string to the app, joined as browsers do.
    assert seen["cookies"] == ["session=abc123; theme=dark"]
    assert seen["query"] == "tag=a&tag=b&q=x+y"
    assert (seen["path"], seen["root_path"]) == ("/prod/items/7", "/prod")
    assert base64.b64decode(seen["body"]) == b"\x00raw"
    assert response["multiValueHeaders"]["set-cookie"] == ["a=1; Path=/", "b=2; Path=/"]


def test_rest_api_v1_without_stage_in_the_url() -> None:
    event = load_event("apigw_rest_v1", path="/items")
    event["requestContext"]["path"] = "/items"  # a custom domain, no base path
    seen = echoed(invoke(event))
    assert (seen["path"], seen["root_path"]) == ("/items", "")


def test_alb_multi_value_cookies_and_encoded_query() -> None:
    event = load_event(
        "alb",
        multiValueQueryStringParameters={"q": ["a%20b"], "tag": ["x", "y"]},
    )
    response = invoke(event)
    seen = echoed(response)
    assert seen["cookies"] == ["session=abc123; theme=dark"]
    # ALB passes query values still URL-encoded; the app must see them decoded once.
    assert seen["query"] == "q=a+b&tag=x&tag=y"
    assert response["multiValueHeaders"]["set-cookie"] == ["a=1; Path=/", "b=2; Path=/"]


def test_alb_single_value_headers() -> None:
    event = load_event("alb")
    multi = event.pop("multiValueHeaders")
    event.pop("multiValueQueryStringParameters")
    event["headers"] = {key: values[-1] for key, values in multi.items()}
    event["queryStringParameters"] = {"q": "1"}
    response = invoke(event)
    seen = echoed(response)
    assert seen["cookies"] == ["theme=dark"]
    assert seen["query"] == "q=1"
    # Without multi-value headers ALB takes one header per name: the cookies go out
    # under case variants of the name (each a distinct key to the target group).
    assert sorted(v for k, v in response["headers"].items() if k.lower() == "set-cookie") == [
        "a=1; Path=/",
        "b=2; Path=/",
    ]
