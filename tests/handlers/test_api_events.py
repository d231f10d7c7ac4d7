"""The real app behind handlers.api, fed API Gateway (v2, v1) and ALB events."""

from __future__ import annotations

import base64
import importlib.util
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from app.config import SettingsError
from tests.conftest import PASSWORD
from tests.handlers.conftest import LambdaRunner, load_event


def v2(method: str, path: str, *, body: bytes = b"", binary: bool = False, **headers: str) -> Any:
    """The HTTP API sample event, pointed at another route."""
    event = load_event("apigw_http_v2", rawPath=path)
    event["requestContext"]["http"].update(method=method, path=path)
    event["requestContext"]["requestId"] = base64.b64encode(uuid.uuid4().bytes[:10]).decode()
    event["headers"].update({key.replace("_", "-"): value for key, value in headers.items()})
    if body:
        event["body"] = base64.b64encode(body).decode() if binary else body.decode()
        event["isBase64Encoded"] = binary
    return event


def json_body(response: dict[str, Any]) -> Any:
    assert not response["isBase64Encoded"], response
    return json.loads(response["body"])


def test_http_api_v2_health(run_lambda: Callable[..., LambdaRunner]) -> None:
    handler = run_lambda()
    response = handler(load_event("apigw_http_v2"))
    assert response["statusCode"] == 200
    assert json_body(response) == {"status": "ok"}
    assert response["headers"]["content-type"] == "application/json"
    assert response["headers"]["x-request-id"]
    # /health alone neither builds the full app (domain routers) nor makes an engine.
    assert handler.env.app.full is None
    assert not handler.env.resources.has_db


def test_health_answers_alike_before_and_after_the_full_app(
    run_lambda: Callable[..., LambdaRunner],
) -> None:
    handler = run_lambda()
    before = handler(load_event("apigw_http_v2"))
    # Only GET /health is answered without the full app: the rest is the full app's to decide.
    assert handler(v2("POST", "/health"))["statusCode"] == 405
    assert handler.env.app.full is not None
    after = handler(load_event("apigw_http_v2"))

    def without_request_id(response: dict[str, Any]) -> dict[str, Any]:
        headers = {k: v for k, v in response["headers"].items() if k != "x-request-id"}
        return {**response, "headers": headers}

    assert without_request_id(before) == without_request_id(after)


def test_named_stage_is_stripped_for_routing_and_kept_as_root_path(
    run_lambda: Callable[..., LambdaRunner],
) -> None:
    handler = run_lambda()
    event = v2("GET", "/prod/health")
    event["requestContext"]["stage"] = "prod"
    assert json_body(handler(event)) == {"status": "ok"}
    missing = v2("GET", "/prod/nowhere")
    missing["requestContext"]["stage"] = "prod"
    response = handler(missing)
    assert response["statusCode"] == 404
    # problem+json is text: not base64, and it names the URL the client used.
    assert response["headers"]["content-type"] == "application/problem+json"
    assert json_body(response)["instance"] == "/prod/nowhere"


def test_rest_api_v1_with_stage(run_lambda: Callable[..., LambdaRunner]) -> None:
    handler = run_lambda()
    response = handler(load_event("apigw_rest_v1"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok"}
    assert response["headers"]["content-type"] == "application/json"
    # API Gateway's request id, as in its own logs.
    assert response["headers"]["x-request-id"] == "77375676-xmpl-4b79-853a-f982474efe18"
    event = load_event("apigw_rest_v1", path="/missing")
    event["requestContext"]["path"] = "/prod/missing"
    problem = handler(event)
    assert problem["statusCode"] == 404
    assert json.loads(problem["body"])["instance"] == "/prod/missing"


def test_alb_event(run_lambda: Callable[..., LambdaRunner]) -> None:
    handler = run_lambda()
    response = handler(load_event("alb"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok"}
    # The target group has multi-value headers on, so the answer must use them too.
    assert response["multiValueHeaders"]["content-type"] == ["application/json"]
    # No request id from an ALB: the root of its trace id (X-Amzn-Trace-Id) stands in.
    assert response["multiValueHeaders"]["x-request-id"] == ["1-5bdb40ca-556d8b0c50dc66f0511bf520"]
    assert "headers" not in response


def test_register_login_and_read_through_the_handler(
    run_lambda: Callable[..., LambdaRunner],
) -> None:
    handler = run_lambda()
    email = f"lambda-{uuid.uuid4().hex[:8]}@example.com"
    registered = handler(
        v2(
            "POST",
            "/v1/auth/register",
            body=json.dumps({"email": email, "password": PASSWORD}).encode(),
            content_type="application/json",
        )
    )
    assert registered["statusCode"] == 201, registered
    # A form body API Gateway passed base64-encoded.
    form = urlencode({"username": email, "password": PASSWORD}).encode()
    login = handler(
        v2(
            "POST",
            "/v1/auth/token",
            body=form,
            binary=True,
            content_type="application/x-www-form-urlencoded",
        )
    )
    assert login["statusCode"] == 200, login
    token = json_body(login)["access_token"]
    me = handler(v2("GET", "/v1/users/me", authorization=f"Bearer {token}"))
    assert me["statusCode"] == 200, me
    assert json_body(me)["email"] == email
    # Only the app of the router group these paths belong to was built.
    assert (set(handler.env.app.groups), handler.env.app.full) == ({"auth"}, None)
    # Query strings reach the app: an invalid limit is refused by validation.
    listing = v2("GET", "/v1/jobs", authorization=f"Bearer {token}")
    listing["rawQueryString"] = "limit=0"
    assert handler(listing)["statusCode"] == 422
    listing["rawQueryString"] = "limit=1"
    assert json_body(handler(listing)) == {"items": [], "next_cursor": None}
    assert (set(handler.env.app.groups), handler.env.app.full) == ({"auth", "jobs"}, None)
    # A path no single group owns is answered by the full app: the 404 is decided with every
    # route present.
    missing = handler(v2("GET", "/v1/nothing-here", authorization=f"Bearer {token}"))
    assert missing["statusCode"] == 404
    assert handler.env.app.full is not None
    page = handler(v2("GET", "/"))
    assert page["statusCode"] == 200


def test_unreachable_database_is_a_503_problem(run_lambda: Callable[..., LambdaRunner]) -> None:
    handler = run_lambda(database_url="postgresql://nobody@127.0.0.1:1/nothing")
    response = handler(v2("GET", "/ready"))
    assert response["statusCode"] == 503
    assert json_body(response)["type"].endswith("/not-ready")
    login = urlencode({"username": "a@example.com", "password": PASSWORD}).encode()
    token = handler(
        v2("POST", "/v1/auth/token", body=login, content_type="application/x-www-form-urlencoded")
    )
    assert token["statusCode"] == 503, token
    assert json_body(token)["type"].endswith("/database-unavailable")


def test_metrics_are_emf_lines_by_route(
    run_lambda: Callable[..., LambdaRunner], capsys: pytest.CaptureFixture[str]
) -> None:
    handler = run_lambda()
    handler(load_event("apigw_http_v2"))
    handler(v2("GET", "/nowhere"))
    blobs = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith('{"_aws"')
    ]
    by_route = {blob["route"]: blob for blob in blobs if "route" in blob}
    health = by_route["/health"]
    assert (health["requests"], health["errors"]) == ([1.0], [0.0])
    assert health["latency"][0] > 0
    directive = health["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Trident"
    assert ["route", "service"] in directive["Dimensions"]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "requests": "Count",
        "errors": "Count",
        "latency": "Milliseconds",
    }
    assert by_route["<unmatched>"]["requests"] == [1.0]


def test_tracing_is_opt_in(
    run_lambda: Callable[..., LambdaRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_lambda().env.tracer is None
    traced = run_lambda(tracing_enabled=True)
    assert traced.env.tracer is not None
    assert traced(load_event("apigw_http_v2"))["statusCode"] == 200
    # A bundle without the X-Ray SDK fails at init, naming the setting, not at first use.
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(SettingsError, match=r"^TRACING_ENABLED needs the X-Ray SDK"):
        run_lambda(tracing_enabled=True)
