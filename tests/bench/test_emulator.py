"""The local Lambda emulator, and the real API bundle running in it (the default Lambda
Python, isolated)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.lambda_emulator import Emulator, EmulatorError, http_api_event
from deployment.bytecode import BundleError, find_python
from deployment.lambda_bundle import CHECK_ENV, FUNCTIONS, Bundle, build
from tests.conftest import TEST_KEYS
from tests.test_logging import log_entries

pytestmark = pytest.mark.subprocess

HANDLER = """
import helper

def handler(event, context):
    return {"echo": event, "helper": helper.VALUE, "request_id": context.aws_request_id}

def uses_site_packages(event, context):
    import pip  # in the interpreter's own site-packages, never in a Lambda bundle
    return {}
"""


@pytest.fixture(scope="session")
def runtime_python() -> Path:
    try:
        return find_python()
    except BundleError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def tiny_bundle(tmp_path: Path, runtime_python: Path) -> Path:
    (tmp_path / "fn.py").write_text(HANDLER)
    (tmp_path / "helper.py").write_text("VALUE = 42\n")
    return tmp_path


def test_function_runs_isolated_with_lambda_context(tiny_bundle: Path) -> None:
    with Emulator(bundle=tiny_bundle, handler="fn.handler") as emulator:
        init_ms = emulator.start()
        assert init_ms > 0
        first = emulator.invoke({"n": 1})
        assert first.error is None
        assert first.payload["echo"] == {"n": 1}
        assert first.payload["helper"] == 42
        assert first.payload["request_id"]
        assert emulator.invoke({"n": 2}).payload["echo"] == {"n": 2}  # same process, warm


def test_interpreter_site_packages_are_not_on_the_path(tiny_bundle: Path) -> None:
    with Emulator(bundle=tiny_bundle, handler="fn.uses_site_packages") as emulator:
        emulator.start()
        result = emulator.invoke({})
    assert result.error is not None
    assert result.error["errorType"] == "ModuleNotFoundError"
    assert "pip" in result.error["errorMessage"]


def test_a_dependency_missing_from_the_bundle_fails_the_init(tiny_bundle: Path) -> None:
    (tiny_bundle / "helper.py").unlink()
    with (
        Emulator(bundle=tiny_bundle, handler="fn.handler") as emulator,
        pytest.raises(EmulatorError, match="No module named 'helper'"),
    ):
        emulator.start()


@pytest.fixture(scope="session")
def api_bundle(tmp_path_factory: pytest.TempPathFactory, runtime_python: Path) -> Bundle:
    """The API function's real bundle, built once (the build's import check included)."""
    return build(FUNCTIONS["api"], tmp_path_factory.mktemp("lambda") / "api", check_env=CHECK_ENV)


@pytest.fixture
def api_emulator(api_bundle: Bundle) -> Iterator[Emulator]:
    env = {
        "TARGET": "lambda",
        "JWT_SIGNING_KEYS": json.dumps(TEST_KEYS),
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing",
        "LOG_LEVEL": "INFO",
    }
    with Emulator(bundle=api_bundle.root, handler=FUNCTIONS["api"].handler, env=env) as emulator:
        yield emulator


def log_lines(emulator: Emulator) -> list[dict[str, Any]]:
    assert emulator.log_path is not None
    lines = emulator.log_path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_api_bundle_cold_start_logs_and_metrics(api_bundle: Bundle, api_emulator: Emulator) -> None:
    assert api_bundle.size.total_mb < 40
    api_emulator.start()
    first_event = http_api_event("GET", "/health")
    first = api_emulator.invoke(first_event)
    assert first.error is None, first
    assert (first.payload["statusCode"], json.loads(first.payload["body"])) == (
        200,
        {"status": "ok"},
    )
    second = api_emulator.invoke(http_api_event("GET", "/health"))
    assert second.payload["statusCode"] == 200
    access = [line for line in log_lines(api_emulator) if line.get("msg") == "request"]
    assert [line["cold_start"] for line in access] == [True, False]
    assert access[0]["request_id"] == first_event["requestContext"]["requestId"]
    assert access[0]["route"] == "/health"
    assert access[0]["function_name"] == "trident-local"
    emf = [line for line in log_lines(api_emulator) if "_aws" in line and "route" in line]
    assert [line["requests"] for line in emf] == [[1.0], [1.0]]
    # Nothing else: the runtime's own handler is gone, every other line is in our one shape.
    assert api_emulator.log_path is not None
    lines = api_emulator.log_path.read_text().splitlines()
    assert log_entries("\n".join(line for line in lines if not line.startswith('{"_aws"')), {})


def test_api_bundle_under_snapstart(api_emulator: Emulator) -> None:
    """With SnapStart the runtime calls our hooks: warm before the snapshot, then restore."""
    api_emulator.extra_env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
    api_emulator.start()
    result = api_emulator.invoke(http_api_event("GET", "/health"))
    assert result.payload["statusCode"] == 200
    messages = [line.get("msg") for line in log_lines(api_emulator)]
    assert messages.index("snapstart: warmed before the snapshot") < messages.index(
        "snapstart: restored"
    )
    warmed = next(line for line in log_lines(api_emulator) if "health_status" in line)
    assert warmed["health_status"] == 200
