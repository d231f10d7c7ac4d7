"""handlers.migrate: the deploy-time migration, as a Trigger and as a custom resource."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

import handlers
import handlers.migrate
from app.local.postgres import database_url
from tests.handlers.conftest import FakeContext
from tests.test_logging import PASSWORD_SENTINEL, log_entries


def run_handler(event: dict[str, Any] | None) -> dict[str, Any]:
    # Alembic's env runs asyncio.run: keep it off any loop the test session has.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(handlers.migrate.handler, event, FakeContext()).result(timeout=120)


@pytest.fixture
def empty_database(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"m_{uuid.uuid4().hex[:10]}"
    pg_server.psql(f"CREATE DATABASE {name};")
    monkeypatch.setenv("TARGET", "lambda")
    monkeypatch.setenv("DATABASE_URL", database_url(pg_server, name))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return name


def tables(pg_server: Any, name: str) -> str:
    out: str = pg_server.psql(
        f"\\c {name}\nSELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
        "WHERE schemaname = 'public';"
    )
    return out


class CloudFormation:
    """Stands in for the pre-signed S3 URL CloudFormation waits on."""

    def __init__(self) -> None:
        self.responses: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.responses.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/response"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def event(self, request_type: str) -> dict[str, Any]:
        return {
            "RequestType": request_type,
            "ResponseURL": self.url,
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/Trident/1",
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": "Migrations",
            "ResourceType": "Custom::Migrations",
        }


@pytest.fixture
def cloudformation() -> Iterator[CloudFormation]:
    stub = CloudFormation()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def test_trigger_migrates_to_head_and_again_is_a_no_op(pg_server: Any, empty_database: str) -> None:
    result = run_handler({})
    assert result["migrated"] is True
    assert "users" in tables(pg_server, empty_database)
    assert "alembic_version" in tables(pg_server, empty_database)
    assert run_handler(None)["migrated"] is True  # already at head: nothing to do
    # The app role's statement timeout in this database, for connections that cannot send it
    # as a startup parameter (RDS Proxy); a new session sees it.
    shown = pg_server.psql(f"\\c {empty_database}\nSHOW statement_timeout;")
    assert "10s" in shown, shown


def test_custom_resource_reports_to_cloudformation(
    pg_server: Any, empty_database: str, cloudformation: CloudFormation
) -> None:
    deleted = run_handler(cloudformation.event("Delete"))
    assert deleted["PhysicalResourceId"] == "trident-schema"
    assert "users" not in tables(pg_server, empty_database)  # Delete never touches the schema
    run_handler(cloudformation.event("Create"))
    assert "users" in tables(pg_server, empty_database)
    assert [r["Status"] for r in cloudformation.responses] == ["SUCCESS", "SUCCESS"]
    assert cloudformation.responses[1]["Data"]["migrated"] == "True"


def test_failure_fails_the_deploy(
    monkeypatch: pytest.MonkeyPatch, cloudformation: CloudFormation
) -> None:
    monkeypatch.setenv("TARGET", "lambda")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_S", "2")
    monkeypatch.setenv("LOG_LEVEL", "CRITICAL")
    with pytest.raises(ConnectionRefusedError):
        run_handler({})
    run_handler(cloudformation.event("Update"))
    assert cloudformation.responses[-1]["Status"] == "FAILED"


def test_lines_are_one_json_shape_naming_the_invocation(
    pg_server: Any,
    empty_database: str,
    cloudformation: CloudFormation,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server trusts its socket: any password connects, and none may be written.
    url = database_url(pg_server, empty_database)
    monkeypatch.setenv("DATABASE_URL", url.replace(":@", f":{PASSWORD_SENTINEL}@", 1))
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setattr(handlers, "_cold", True)  # as in a new execution environment
    run_handler(cloudformation.event("Create"))
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody:{PASSWORD_SENTINEL}@127.0.0.1:1/x")
    run_handler(cloudformation.event("Update"))
    assert [r["Status"] for r in cloudformation.responses] == ["SUCCESS", "FAILED"]

    entries = log_entries(capsys.readouterr().err, {"password": PASSWORD_SENTINEL})
    assert {e["function_request_id"] for e in entries} == {FakeContext.aws_request_id}
    by_message = {entry["msg"]: entry for entry in entries}
    assert by_message["migrations applied"]["cold_start"] is True
    assert by_message["migrations failed"]["cold_start"] is False
    assert "ConnectionRefusedError" in by_message["migrations failed"]["exc"]
