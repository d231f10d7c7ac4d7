"""What the API function writes: log lines in the one JSON shape (tests/test_logging.py) on
stderr, each naming its invocation, metrics on stdout, and no secret anywhere."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import NoReturn
from urllib.parse import urlencode

import pytest

import handlers
from app.auth.tokens import TokenIssuer
from tests.handlers.conftest import FakeContext, LambdaRunner
from tests.handlers.test_api_events import json_body, v2
from tests.test_logging import PASSWORD_SENTINEL, leaks, log_entries


def test_api_lines_are_one_json_shape_naming_the_invocation(
    run_lambda: Callable[..., LambdaRunner],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handlers, "_cold", True)  # as in a new execution environment
    handler = run_lambda(log_level="DEBUG", sql_echo=True)
    email = f"logs-{uuid.uuid4().hex[:8]}@example.com"
    register = v2(
        "POST",
        "/v1/auth/register",
        body=json.dumps({"email": email, "password": PASSWORD_SENTINEL}).encode(),
        content_type="application/json",
    )
    login = v2(
        "POST",
        "/v1/auth/token",
        body=urlencode({"username": email, "password": PASSWORD_SENTINEL}).encode(),
        content_type="application/x-www-form-urlencoded",
    )
    responses = [handler(register), handler(login)]
    assert [r["statusCode"] for r in responses] == [201, 200], responses
    token = json_body(responses[1])["access_token"]

    def crash(self: TokenIssuer, token: str) -> NoReturn:
        raise RuntimeError(f"could not verify {token}")

    # A secret in an exception's message: the traceback is logged, the token must not be.
    monkeypatch.setattr(TokenIssuer, "verify_access", crash)
    me = v2("GET", "/v1/users/me", authorization=f"Bearer {token}", x_request_id="client-id-1")
    responses.append(handler(me))
    assert responses[2]["statusCode"] == 500

    out, err = capsys.readouterr()
    secrets = {
        "password": PASSWORD_SENTINEL,
        "access token": token,
        "access token signature": token.rsplit(".", 1)[1],
    }
    entries = log_entries(err, secrets)
    assert not leaks(iter([out]), secrets)
    assert out
    assert all(line.startswith('{"_aws"') for line in out.splitlines())  # EMF metrics only

    # The request id is API Gateway's unless the client sent one: the response header, and
    # every line of the request.
    request_ids = [event["requestContext"]["requestId"] for event in (register, login)]
    request_ids.append("client-id-1")
    assert [r["headers"]["x-request-id"] for r in responses] == request_ids
    access = [entry for entry in entries if entry["logger"] == "app.access"]
    assert [(a["request_id"], a["status"]) for a in access] == list(
        zip(request_ids, [201, 200, 500], strict=True)
    )
    assert [a["cold_start"] for a in access] == [True, False, False]
    # Every line, SQLAlchemy's included (DEBUG, SQL echo on), names its invocation.
    assert {(e["function_request_id"], e["function_name"]) for e in entries} == {
        (FakeContext.aws_request_id, FakeContext.function_name)
    }
    assert {e.get("request_id") for e in entries} == set(request_ids)
    assert any(e["logger"].startswith("sqlalchemy.engine") for e in entries)
    (crashed,) = [entry for entry in entries if entry["msg"] == "unhandled error"]
    assert crashed["request_id"] == "client-id-1"
    assert "could not verify [REDACTED]" in crashed["exc"]
