"""Logs: one JSON access line per request, and no password or token anywhere in them.

Runs with DEBUG on the root logger and SQL echo on, the noisiest settings the service has,
and checks both the raw records (what any handler could write) and our JSON output.
``log_entries`` is the shape every entry point's output is held to (the Lambda handlers in
tests/handlers and tests/jobs, the worker and Gunicorn in their own tests).
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.observability import REDACTED, JsonFormatter

PASSWORD_SENTINEL = "Sentinel-Pa55word-XYZ"
WRONG_PASSWORD_SENTINEL = "Sentinel-Wr0ngPa55-XYZ"


class JsonLines(logging.Handler):
    """The app's JsonFormatter output, formatted as each record is emitted (in its request)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    # Requested before the database fixtures: SQLAlchemy decides whether to echo SQL when a
    # connection is opened, from the level its logger has then. The root level goes last:
    # set_level also sets the capture handler's level, and it must stay at DEBUG.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    caplog.set_level(logging.DEBUG)


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    handler = JsonLines()
    yield handler
    logging.getLogger().removeHandler(handler)


def raw_texts(record: logging.LogRecord) -> Iterator[str]:
    """Everything a handler could write for this record, formatted or not."""
    yield record.getMessage()
    yield repr(record.msg)
    yield repr(record.args)
    for key, value in record.__dict__.items():
        yield f"{key}={value!s}"
        yield f"{key}={value!r}"
    if record.exc_info and record.exc_info[1] is not None:
        yield "".join(traceback.format_exception(record.exc_info[1]))
    if record.exc_text:
        yield record.exc_text
    if record.stack_info:
        yield record.stack_info


def leaks(texts: Iterator[str], secrets: dict[str, str]) -> list[str]:
    return sorted({name for text in texts for name, secret in secrets.items() if secret in text})


# What every line of every entry point carries (request_id too, when written in a request).
REQUIRED_KEYS = frozenset({"ts", "level", "logger", "msg"})
LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


def log_entries(output: str, secrets: dict[str, str]) -> list[dict[str, Any]]:
    """Each line an entry point wrote, parsed: all of them JSON objects with the required keys
    and none holding a secret."""
    entries = []
    for line in output.splitlines():
        assert not leaks(iter([line]), secrets), line
        entry = json.loads(line)
        assert entry.keys() >= REQUIRED_KEYS, line
        assert isinstance(entry["ts"], float), line
        assert entry["level"] in LEVELS, line
        entries.append(entry)
    return entries


async def test_no_secret_reaches_any_log_record(
    debug_logging: None,
    app_factory: Callable[..., FastAPI],
    json_lines: JsonLines,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = app_factory(log_level="DEBUG", sql_echo=True)
    # After create_app: configure_logging replaces JsonFormatter handlers on the root logger.
    logging.getLogger().addHandler(json_lines)
    logging.getLogger("app").debug("debug canary")

    email = f"sentinel-{uuid.uuid4().hex[:10]}@example.com"
    expected: list[tuple[httpx.Response, str]] = []  # (response, route template)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/v1/auth/register", json={"email": email, "password": PASSWORD_SENTINEL}
        )
        assert response.status_code == 201, response.text
        expected.append((response, "/v1/auth/register"))

        response = await client.post(
            "/v1/auth/token", data={"username": email, "password": WRONG_PASSWORD_SENTINEL}
        )
        assert response.status_code == 401, response.text
        expected.append((response, "/v1/auth/token"))

        response = await client.post(
            "/v1/auth/token",
            data={"username": email, "password": PASSWORD_SENTINEL},
            headers={"X-Request-ID": "login-req-1"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == "login-req-1"
        expected.append((response, "/v1/auth/token"))
        first = response.json()

        bearer = f"Bearer {first['access_token']}"
        response = await client.get("/v1/users/me", headers={"Authorization": bearer})
        assert response.status_code == 200, response.text
        expected.append((response, "/v1/users/me"))

        response = await client.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert response.status_code == 200, response.text
        expected.append((response, "/v1/auth/refresh"))
        second = response.json()

        def crash(token: str) -> Any:
            raise RuntimeError("token verification crashed")

        monkeypatch.setattr(app.state.tokens, "verify_access", crash)
        second_bearer = f"Bearer {second['access_token']}"
        response = await client.get("/v1/users/me", headers={"Authorization": second_bearer})
        assert response.status_code == 500, response.text
        expected.append((response, "/v1/users/me"))

    secrets = {
        "password": PASSWORD_SENTINEL,
        "wrong password": WRONG_PASSWORD_SENTINEL,
        "first access token": first["access_token"],
        "first refresh token": first["refresh_token"],
        "second access token": second["access_token"],
        "second refresh token": second["refresh_token"],
        "Authorization header": bearer,
        "second Authorization header": second_bearer,
    }
    for name, token in [("first", first["access_token"]), ("second", second["access_token"])]:
        # The signature alone is enough to matter; the header segment is the same for all.
        secrets[f"{name} access token signature"] = token.rsplit(".", 1)[1]

    # The run was as noisy as intended: SQL echoed, DEBUG on, the 500 logged with its traceback.
    records = caplog.records
    assert any(r.msg == "debug canary" for r in records), "DEBUG records are not captured"
    assert any(
        r.name.startswith("sqlalchemy.engine") and "INSERT INTO users" in r.getMessage()
        for r in records
    )
    assert any("parameters hidden" in r.getMessage() for r in records)
    crashes = [r for r in records if r.exc_info and isinstance(r.exc_info[1], RuntimeError)]
    assert crashes, "the forced 500 was not logged with its exception"
    assert any("token verification crashed" in line for line in json_lines.lines)

    for record in records:
        leaked = leaks(raw_texts(record), secrets)
        assert not leaked, f"{record.name} record {record.getMessage()!r} holds {leaked}"
    for line in json_lines.lines:
        assert not leaks(iter([line]), secrets), line
    assert not leaks(iter([caplog.text]), secrets)
    # What the container's process wrote (configure_logging: stderr) is those lines exactly.
    assert log_entries(capsys.readouterr().err, secrets) == [
        json.loads(line) for line in json_lines.lines
    ]

    # One access line per request, carrying the id the response carried.
    access = [json.loads(line) for line in json_lines.lines if '"logger": "app.access"' in line]
    assert len(access) == len(expected)
    assert len([r for r in records if r.name == "app.access"]) == len(expected)
    for response, template in expected:
        request_id = response.headers["x-request-id"]
        lines = [entry for entry in access if entry.get("request_id") == request_id]
        assert len(lines) == 1, (request_id, access)
        (entry,) = lines
        assert entry["method"] == response.request.method
        assert entry["route"] == template
        assert entry["status"] == response.status_code
        assert isinstance(entry["duration_ms"], int | float)
        assert entry["duration_ms"] >= 0
        assert entry["level"] == "INFO"


@pytest.mark.aws_internals
async def test_aws_sdk_debug_output_stays_out_of_logs(
    debug_logging: None,
    app_factory: Callable[..., FastAPI],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # At DEBUG botocore logs each signed request, role session token included.
    session_token = "SessionSentinelToken-" + uuid.uuid4().hex
    secret_key = "SecretSentinelKey-" + uuid.uuid4().hex
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSENTINEL")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)
    app = app_factory(
        log_level="DEBUG",
        aws_endpoint_url="http://127.0.0.1:1",
        aws_max_attempts=1,
        aws_connect_timeout_s=0.5,
    )
    logging.getLogger("app").debug("debug canary")

    from botocore.exceptions import EndpointConnectionError

    with pytest.raises(EndpointConnectionError):
        app.state.resources.aws.sqs.send_message(
            QueueUrl="http://127.0.0.1:1/000000000000/jobs", MessageBody="{}"
        )

    secrets = {"session token": session_token, "secret key": secret_key}
    assert any(r.msg == "debug canary" for r in caplog.records), "DEBUG records are not captured"
    for record in caplog.records:
        leaked = leaks(raw_texts(record), secrets)
        assert not leaked, f"{record.name} record {record.getMessage()!r} holds {leaked}"
    assert "Authorization" not in caplog.text


@pytest.mark.parametrize(
    "text",
    [
        '{"msg": "request", "route": "/v1/files/{file_id}", "status": 200}',
        '{"msg": "login", "password": "hunter2"}',
        '{"msg": "x", "Authorization": "Bearer abc.def"}',
        "SET-COOKIE=session; path=/",
        "refresh_token='abc' and ACCESS_TOKEN: xyz",
        "passwd=p4ss, secret = s3cr3t",
        "header eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig and more",
        # Non-ASCII: re's case-insensitive match folds these to ASCII letters.
        "autHor\u0131zation: Bearer qwe",
        "\u212aEY token=\u00e9t\u00e9",
        "pa\u017f\u017fword=abc",
        "nothing to hide here, just words",
    ],
)
def test_scrub_redacts_exactly_what_its_patterns_match(text: str) -> None:
    from app.observability import _JWT, _KEYED_SECRET, REDACTED, scrub

    reference = _KEYED_SECRET.sub(lambda m: m.group(1) + REDACTED, _JWT.sub(REDACTED, text))
    assert scrub(text) == reference


@pytest.mark.parametrize(
    ("message", "extra", "field", "shown"),
    [
        # A secret at the end of a text: the redaction stops where the text does.
        ("password=hunter2", {}, "msg", "password=[REDACTED]"),
        ("login", {"password": "hunter2"}, "password", REDACTED),
        # JSON inside a text (a message body): matched as written, not as escaped.
        (
            "poison",
            {"body_prefix": '{"password": "hunter2'},
            "body_prefix",
            '{"password": [REDACTED]',
        ),
        (
            "call",
            {"headers": {"Authorization": "Bearer hunter2"}},
            "headers",
            {"Authorization": REDACTED},
        ),
        ("pa\u017f\u017fword=hunter2", {}, "msg", "pa\u017f\u017fword=[REDACTED]"),
    ],
)
def test_a_redacted_line_is_still_json(
    message: str, extra: dict[str, Any], field: str, shown: Any
) -> None:
    record = logging.makeLogRecord({"name": "app", "levelname": "INFO", "msg": message, **extra})
    line = JsonFormatter().format(record)
    assert "hunter2" not in line
    assert json.loads(line)[field] == shown


def test_emf_files_each_request_by_function_version_too() -> None:
    """A canary's rollback alarms read (service, version): the new version's 5xx count and
    p99 latency across routes (cdk/components/lambda_deploy.py)."""
    from aws_lambda_powertools import Metrics as PowertoolsMetrics

    from app.observability import EmfMetrics

    metrics = PowertoolsMetrics(namespace="Trident", service="trident-api")
    emf = EmfMetrics(metrics, version="7")
    emf.observe(method="GET", route="/x", status=503, seconds=0.25)
    emf.observe(method="GET", route="/x", status=200, seconds=0.05)
    blob: dict[str, Any] = dict(metrics.serialize_metric_set())
    dimensions = blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert dimensions == [["route", "service"], ["service", "version"]]
    assert (blob["version"], blob["errors"]) == ("7", [1.0, 0.0])
    unversioned = PowertoolsMetrics(namespace="Trident", service="trident-api")
    EmfMetrics(unversioned).observe(method="GET", route="/x", status=200, seconds=0.1)
    assert unversioned.serialize_metric_set()["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["route", "service"]
    ]
