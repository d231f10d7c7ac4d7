"""bench/warm_invokes.py: a handler invoked back to back in a fresh, isolated interpreter,
with what it logs counted and a wrong status stopping the run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.warm_invokes import invoke_warm

HANDLER = """
import os
import sys


def init():
    sys.stdout.write("initialised\\n")


def handler(event, context):
    sys.stdout.write(f"{os.environ['BENCH_WORD']} {context.function_name} {event['path']}\\n")
    return {"statusCode": event["status"]}
"""


@pytest.fixture
def handler_dir(tmp_path: Path) -> Path:
    (tmp_path / "tiny_handler.py").write_text(HANDLER)
    return tmp_path


def test_measured_invokes_and_what_they_logged(handler_dir: Path) -> None:
    measured = invoke_warm(
        python=Path(sys.executable),
        paths=[handler_dir],
        env={"BENCH_WORD": "hello"},
        handler="tiny_handler.handler",
        init="tiny_handler.init",
        events={
            "a": ({"path": "/a", "status": 200}, 200),
            "bc": ({"path": "/bc", "status": 201}, 201),
        },
        warmup=3,
        invokes=5,
    )
    assert list(measured) == ["a", "bc"]
    for name, samples in measured.items():
        assert len(samples.samples_ns) == 5
        assert all(isinstance(ns, int) and ns > 0 for ns in samples.samples_ns)
        assert samples.samples_ms() == [ns / 1e6 for ns in samples.samples_ns]
        # Only the measured invokes count: not the warm-up, not the init.
        assert samples.log_lines == 5
        assert samples.log_bytes == 5 * len(f"hello bench /{name}\n")


def test_a_wrong_status_fails_the_run(handler_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="Lambda warm path failed") as failure:
        invoke_warm(
            python=Path(sys.executable),
            paths=[handler_dir],
            env={"BENCH_WORD": "hello"},
            handler="tiny_handler.handler",
            events={"a": ({"path": "/a", "status": 500}, 200)},
            warmup=0,
            invokes=2,
        )
    assert "a: {'statusCode': 500}" in str(failure.value)
