"""bench/load/: a short run on the real local stack (PostgreSQL, moto, Gunicorn)."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import load
from bench.cost.inputs import lambda_cpu_scale
from bench.load.measure import SessionCounter
from bench.load.results import LambdaWarm
from bench.load.wire import parse_response, response_header
from bench.load.wrk import parse_wrk, wrk_lua
from bench.stats import percentile
from bench.warm_invokes import WarmSamples
from deployment.settings import DeploySettings
from tests.conftest import REPO

pytestmark = pytest.mark.subprocess

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:8000/health
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.05ms  300.00us   8.00ms   90.00%
    Req/Sec     7.80k   300.00     8.20k    80.00%
  Latency Distribution
     50%    2.00ms
     75%    2.10ms
     90%  850.00us
     99%    1.20s
  23400 requests in 3.00s, 3.10MB read
  Non-2xx or 3xx responses: 7
Requests/sec:   7800.00
Transfer/sec:      1.03MB
"""


def test_parse_wrk_output() -> None:
    parsed = parse_wrk(WRK_OUTPUT)
    assert parsed == {
        "p50_ms": 2.0,
        "p90_ms": 0.85,
        "p99_ms": 1200.0,
        "mean_ms": 2.05,
        "requests": 23400.0,
        "seconds": 3.0,
        "bytes_read": 3.1 * 1024**2,
        "rps": 7800.0,
        "errors": 7.0,
    }
    lua = wrk_lua("POST", {"Authorization": "Bearer t"}, b'{"a": "b"}')
    assert 'wrk.method = "POST"' in lua
    assert 'wrk.body = "{\\"a\\": \\"b\\"}"' in lua


def test_lambda_bills_each_invoke_scaled_then_rounded_up() -> None:
    samples = WarmSamples(samples_ns=[1_000_000, 1_200_000, 2_900_000], log_bytes=0, log_lines=0)
    warm = LambdaWarm.of(samples, cpu_scale=1769 / 1024)
    # 1.7275, 2.073, 5.0098 ms on Lambda bill 2 + 3 + 6 ms; the mean rounded once bills 3.
    assert warm.billed_ms_mean == pytest.approx(11 / 3, abs=0.001)
    assert warm.cpu_scale == 1769 / 1024
    assert LambdaWarm.of(samples).billed_ms_mean == pytest.approx((1 + 2 + 3) / 3, abs=0.001)


def test_response_parsing_waits_for_the_whole_body() -> None:
    response = b'HTTP/1.1 201 Created\r\nContent-Length: 4\r\nETag: "x"\r\n\r\nbody'
    assert parse_response(response[:-1]) is None
    assert parse_response(response + b"HTTP/1.1") == (201, len(response))
    assert response_header(response, "etag") == '"x"'
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0


def test_short_run_on_the_local_stack(
    clone_database: Callable[[str | None], str],
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Connection counts need PostgreSQL's statistics published (about a second per reading);
    # this short run checks their shape, `make bench` their values.
    monkeypatch.setattr(SessionCounter, "STATS_DELAY_S", 0.0)
    # The in-repo generator even where wrk is installed: wrk runs a whole second at least.
    options = load.Options(
        runs=1,
        concurrency=4,
        duration_s=0.3,
        warmup_s=0.1,
        lambda_invokes=5,
        lambda_warmup=1,
        use_wrk=False,
    )
    steps: list[str] = []
    # The handler from the repo's sources on this interpreter: building the bundle is for
    # `make bench` (tests/bench/test_emulator.py covers the bundle itself).
    result = load.run(
        options,
        step=steps.append,
        database_url=clone_database(None),
        aws_endpoint=moto_endpoint,
        lambda_runtime=(Path(sys.executable), [REPO], platform.python_version()),
    )
    assert len(steps) == options.steps()
    json.dumps(result)  # results.json material
    cold = result["container_coldstart"]
    assert cold["app"]["min_ms"] <= cold["app"]["median_ms"] <= cold["app"]["max_ms"]
    assert cold["baseline"]["median_ms"] > 0
    assert cold["ratio"] > 0
    # Every worker answered an authenticated read, the app's and the floor's.
    assert cold["app_read"]["median_ms"] > 0
    assert cold["floor_read"]["median_ms"] > 0
    assert cold["read_ratio"] > 0
    scenarios = result["scenarios"]
    assert list(scenarios) == [
        "hello",
        "health",
        "read",
        "job_read",
        "presign",
        "enqueue",
        "floor_read",
    ]
    for name, scenario in scenarios.items():
        assert scenario["requests"] > 0, name
        assert scenario["errors"] == 0, name
        assert 0 < scenario["p50_ms"] <= scenario["p99_ms"], name
        assert scenario["server_cpu_ms"] > 0, name
    assert scenarios["read"]["path"].startswith("/v1/files/")
    assert scenarios["floor_read"]["path"] == scenarios["read"]["path"]
    assert scenarios["job_read"]["path"].startswith("/v1/jobs/")
    for name in ("read", "job_read"):
        assert scenarios[name]["rps_ratio_to_floor"] == pytest.approx(
            scenarios[name]["rps"] / scenarios["floor_read"]["rps"], abs=0.001
        )
        assert scenarios[name]["cpu_ratio_to_floor"] > 0
    assert all(isinstance(s["connects"], int) for n, s in scenarios.items() if n != "hello")
    assert scenarios["read"]["rps_ratio_to_baseline"] == pytest.approx(
        scenarios["read"]["rps"] / scenarios["hello"]["rps"],
        abs=0.001,  # rounded to 3 places
    )
    # The app logs one JSON line per request; the hello world nothing per request (a late
    # worker's start-up lines may land in a window this short).
    assert scenarios["read"]["log_events"] == pytest.approx(1.0, abs=0.05)
    assert scenarios["hello"]["log_bytes"] < 1
    warm = result["lambda_warm"]
    assert list(warm) == ["health", "read", "job_read", "presign", "enqueue"]
    scale = lambda_cpu_scale(DeploySettings().lambda_memory)
    for name, invoke in warm.items():
        assert invoke["invokes"] == 5
        # Billed per invoke at the deployed memory: scaled, then each rounded up.
        assert invoke["cpu_scale"] == scale
        assert invoke["mean_ms"] * scale <= invoke["billed_ms_mean"], name
        assert invoke["billed_ms_mean"] <= invoke["mean_ms"] * scale + 1, name
        assert invoke["mean_ms"] > 0, name
        assert invoke["log_bytes"] > 0, name
    assert result["lambda_python"] == platform.python_version()
