"""Lambda handlers called as Lambda calls them: on a thread with no running event loop.

Mangum drives each request with ``run_until_complete``, which cannot run inside the test
session's loop; every call here goes to one worker thread that owns the handler's loop.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from handlers.api import Environment
from tests.conftest import make_settings

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """A sample event from tests/events, with top-level keys replaced."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    event.update(copy.deepcopy(changes))
    return event


class FakeContext:
    function_name = "trident-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:trident-test"
    aws_request_id = "5a1c4c7e-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/trident-test"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class LambdaRunner:
    """One execution environment: made and invoked on the same loop-less thread."""

    def __init__(self, settings: Settings) -> None:
        self._pool = ThreadPoolExecutor(1)
        try:
            self.env: Environment = self._pool.submit(Environment, settings).result(timeout=60)
        except BaseException:
            self._pool.shutdown()
            raise

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self._pool.submit(self.env.handle, event, FakeContext()).result(
            timeout=60
        )
        return response

    def run(self, function: Callable[[], Any]) -> Any:
        return self._pool.submit(function).result(timeout=60)

    def close(self) -> None:
        def shutdown() -> None:
            self.env.loop.run_until_complete(self.env.resources.close())
            self.env.loop.close()

        self._pool.submit(shutdown).result(timeout=60)
        self._pool.shutdown()


@pytest.fixture
def function_settings(
    clone_database: Callable[[str | None], str], tmp_path: Path
) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"target": "lambda", "metrics_enabled": False}
        values.update(overrides)
        url = values.pop("database_url", None) or clone_database(None)
        return make_settings(url, **values)

    return factory


@pytest.fixture
def run_lambda(function_settings: Callable[..., Settings]) -> Iterator[Callable[..., LambdaRunner]]:
    runners: list[LambdaRunner] = []

    def start(**overrides: Any) -> LambdaRunner:
        runner = LambdaRunner(function_settings(**overrides))
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.close()
