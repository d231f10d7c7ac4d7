"""``python -m bench all`` and ``report`` end to end, with the measuring stages stubbed (the
real ones are covered by test_load.py, test_emulator.py and tests/jobs), and the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import __main__ as dispatcher
from bench import coldstart, load, suite, worker
from bench.coldstart import ColdStart
from bench.report import floors
from bench.worker import WorkerBench
from bench.worker_jobs import JobRun

COLD = ColdStart(
    app_init_ms=410.0,
    app_first_invoke_ms=5.0,
    baseline_init_ms=300.0,
    baseline_first_invoke_ms=4.0,
    ratio=1.365,
    app_db_first_request_ms=850.0,
    floor_db_first_request_ms=750.0,
    db_first_ratio=1.133,
    bundle_mb=38.2,
    warm_invoke_p50_us=190.0,
    app_warm_read_p50_us=1400.0,
    floor_warm_read_p50_us=1200.0,
    warm_read_ratio=1.167,
    snapstart_init_ms=900.0,
    snapstart_first_read_ms=20.0,
    app_total_runs_ms=(405.0, 415.0, 430.0),
    baseline_total_runs_ms=(300.0, 304.0, 310.0),
)


def scenario(rps: float, p50: float, cpu: float, ratio: float | None = None) -> dict[str, Any]:
    return {
        "method": "GET",
        "path": "/x",
        "expected_status": 200,
        "requests": int(rps * 3),
        "errors": 0,
        "rps": rps,
        "p50_ms": p50,
        "p90_ms": p50 * 1.5,
        "p99_ms": p50 * 2,
        "mean_ms": p50 * 1.1,
        "server_cpu_ms": cpu,
        "request_bytes": 400.0,
        "response_bytes": 800.0,
        "log_bytes": 210.0,
        "log_events": 1.0,
        "rps_ratio_to_baseline": ratio,
        "p50_ratio_to_baseline": ratio,
        "connects": 0,
        "rps_ratio_to_floor": None,
        "cpu_ratio_to_floor": None,
    }


def warm(mean: float) -> dict[str, Any]:
    return {
        "invokes": 300,
        "p50_ms": mean * 0.9,
        "p90_ms": mean * 1.2,
        "p99_ms": mean * 1.6,
        "mean_ms": mean,
        "billed_ms_mean": math.ceil(mean * 1769 / 1024) + 0.25,
        "cpu_scale": 1769 / 1024,
        "log_bytes": 820.0,
        "log_events": 2.0,
    }


LOAD: dict[str, Any] = {
    "pinning": "server on CPU 0, client on CPU 1",
    "generator": "in-repo asyncio generator",
    "concurrency": 16,
    "duration_s": 3.0,
    "warmup_s": 1.0,
    "gunicorn": "docker/gunicorn.conf.py, 2 workers",
    "container_coldstart": {
        "app": {"median_ms": 1400.0, "min_ms": 1350.0, "max_ms": 1500.0, "runs_ms": [1350.0]},
        "baseline": {"median_ms": 600.0, "min_ms": 580.0, "max_ms": 650.0, "runs_ms": [600.0]},
        "ratio": 2.333,
        "app_read": {"median_ms": 1900.0, "min_ms": 1800.0, "max_ms": 2000.0, "runs_ms": [1.0]},
        "floor_read": {"median_ms": 1700.0, "min_ms": 1600.0, "max_ms": 1800.0, "runs_ms": [1.0]},
        "read_ratio": 1.118,
    },
    "scenarios": {
        "hello": scenario(10_000, 0.7, 0.1),
        "health": scenario(3_800, 4.0, 0.26, 0.38),
        "read": {
            **scenario(300, 50.0, 3.2, 0.03),
            "rps_ratio_to_floor": 0.75,
            "cpu_ratio_to_floor": 1.333,
        },
        "presign": scenario(180, 90.0, 5.3, 0.018),
        "enqueue": scenario(130, 110.0, 7.5, 0.013),
        "floor_read": scenario(400, 40.0, 2.4, 0.04),
    },
    "lambda_warm": {
        "health": warm(0.4),
        "read": warm(4.5),
        "presign": warm(8.0),
        "enqueue": warm(17.0),
    },
    "lambda_python": "3.12.1",
}


def job_figures(mean: float, cpu: float) -> dict[str, float]:
    return {
        "duration_ms_mean": mean,
        "duration_ms_p50": mean * 0.9,
        "duration_ms_max": mean * 2,
        "cpu_ms_mean": cpu,
    }


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coldstart, "run", lambda **_: COLD)

    def fake_load(options: load.Options, *, step: Any = None) -> dict[str, Any]:
        for _ in range(options.steps()):
            step("stub")
        return LOAD

    monkeypatch.setattr(load, "run", fake_load)
    monkeypatch.setattr(
        worker,
        "run",
        lambda **_: WorkerBench(
            messages=200,
            concurrency=4,
            raw_msgs_per_s=150.0,
            worker_msgs_per_s=60.0,
            ratio=2.5,
            rounds=1,
            jobs={
                "ingest": JobRun(jobs=20, what="1024 KiB upload", **job_figures(40.0, 20.0)),
                "export": JobRun(jobs=10, what="100 files", **job_figures(25.0, 15.0)),
            },
        ),
    )


@pytest.mark.usefixtures("stubbed")
def test_all_writes_results_report_and_charts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert dispatcher.main(["all", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "results.json").read_text())
    assert printed == saved
    assert set(saved) >= {"meta", "coldstart", "load", "worker", "cost", "cost_curve"}
    assert saved["meta"]["git_sha"]
    assert saved["meta"]["machine"]["cpus"] >= 1
    assumptions = saved["cost"]["assumptions"]
    # Measured figures flow into the model, weighted by the mix (0.96 / 0.02 / 0.02).
    assert assumptions["lambda_init_ms"] == {
        "value": 410.0,
        "source": "measured",
        "note": assumptions["lambda_init_ms"]["note"],
    }
    assert assumptions["server_cpu_ms"]["value"] == pytest.approx(
        0.96 * 3.2 + 0.02 * 5.3 + 0.02 * 7.5
    )
    assert assumptions["peak_ratio"]["source"] == "assumed"
    # Billed per invoke, as measured: 0.96 x (8 + 0.25) + 0.02 x (14 + 0.25) + 0.02 x (30 + 0.25)
    assert assumptions["lambda_billed_ms"]["source"] == "measured"
    assert assumptions["lambda_billed_ms"]["value"] == pytest.approx(
        0.96 * 8 + 0.02 * 14 + 0.02 * 30 + 0.25
    )
    # Real jobs: an ingest per upload (2%), an export per submitted job (2%).
    assert assumptions["job_duration_ms"] == {
        "value": pytest.approx((40.0 + 25.0) / 2),
        "source": "measured",
        "note": assumptions["job_duration_ms"]["note"],
    }
    assert assumptions["job_cpu_ms"]["value"] == pytest.approx((20.0 + 15.0) / 2)
    for chart in ("cost.png", "coldstart.png", "latency.png"):
        data = (out / chart).read_bytes()
        assert data.startswith(b"\x89PNG")
        assert len(data) < 200_000
    report = (out / "report.md").read_text()
    crossovers = saved["cost"]["crossover_rps"]
    assert f"Fargate costs less than Lambda from **{crossovers['fargate']:,} RPS**" in report
    assert "### Which target?" in report
    assert "pick Lambda" in report
    assert "| `lambda_requests` |" in report
    assert "| `fargate_vcpu` |" in report
    assert "| `lambda_mi_instances` |" in report
    assert "**Lambda Managed Instances** (`Trident-LambdaMI`" in report  # when it wins
    assert "server on CPU 0, client on CPU 1" in report  # the pinning is stated
    assert "`cloudfront_https_request`" in report  # unverified prices are listed
    assert "| ingest (1024 KiB upload) | 20 | 40.0 | 36.0 | 80.0 | 20.0 |" in report


@pytest.mark.usefixtures("stubbed")
def test_report_rerenders_from_results_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dispatcher.main(["all", "--out", str(tmp_path)]) == 0
    assert "| avg RPS |" in capsys.readouterr().out
    (tmp_path / "report.md").unlink()
    assert dispatcher.main(["report", "--results", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (
        "\n| avg RPS | Lambda $/month | Lambda Managed Instances $/month | Fargate CloudFront |"
    ) in printed["summary"]
    assert (tmp_path / "report.md").exists()
    assert dispatcher.main(["report", "--results", str(tmp_path / "missing")]) == 2


def test_coldstart_and_cost_subcommands_print_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(coldstart, "run", lambda **_: COLD)
    assert dispatcher.main(["coldstart", "--local", "--runs", "1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["app_total_runs_ms"] == list(COLD.app_total_runs_ms)
    assert printed == json.loads(json.dumps(dataclasses.asdict(COLD)))
    assert dispatcher.main(["cost", "--no-measured", "--rps", "5", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert list(document["monthly_usd"]["fargate"]) == ["5"]


def test_dispatcher_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert dispatcher.main(["--help"]) == 0
    listed = capsys.readouterr().out
    for command in ("all", "coldstart", "load", "cost", "report", "remote", "worker"):
        assert f"  {command} " in listed
    assert suite.Plan.quick().load_options.runs == 1


@pytest.mark.parametrize(
    ("first", "verdict"),
    [(0.042, "within ±10 %"), (0.05, "**outside ±10 %: the floor or the machine changed")],
)
@pytest.mark.usefixtures("stubbed")
def test_the_report_holds_the_floor_to_its_first_recorded_ratio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: float, verdict: str
) -> None:
    floors_file = tmp_path / "floors.toml"
    floors_file.write_text(
        f'[floor_read]\nrps_ratio_to_hello = {first}\nrecorded = "2026-12-03"\ncommit = "abc1234"\n'
    )
    monkeypatch.setattr(floors, "FLOORS_FILE", floors_file)
    assert dispatcher.main(["all", "--out", str(tmp_path / "run")]) == 0
    text = (tmp_path / "run" / "report.md").read_text()
    assert "## Floors" in text
    assert "| file read: RPS ÷ floor | 0.75 | ≥ 0.8 |" in text
    assert "| Gunicorn spawn → every worker's first read ÷ floor | 1.118 | ≤ 1.3 |" in text
    assert "| Lambda init + first authenticated read ÷ floor | 1.133 | ≤ 1.2 |" in text
    assert (
        f"floor_read ÷ hello: 0.04; first recorded {first} (2026-12-03, abc1234): {verdict}" in text
    )
