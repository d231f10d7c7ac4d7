"""The cost model against figures worked out by hand from bench/prices.toml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from bench import cost
from bench.cost import model
from bench.cost.inputs import MIX_ENDPOINTS, Inputs
from bench.cost.measured import measured_inputs
from bench.cost.model import Model
from bench.cost.prices import load_prices

PRICES = load_prices()
SECONDS = 730 * 3600  # a month
# The production guide this project starts from puts Lambda at $2,800/month at 10k RPS.
GUIDE_LAMBDA_10K = 2800.0


def items(target: str, rps: float, **inputs: object) -> dict[str, float]:
    return Model(Inputs(**inputs), PRICES).line_items(target, rps)  # type: ignore[arg-type]


def test_lambda_at_10k_rps_10_ms_1024_mb() -> None:
    lines = items("lambda", 10_000, lambda_duration_ms=10.0, lambda_memory_mb=1024)
    # 10,000 x 2,628,000 s = 26.28 billion requests a month.
    # 26,280 million x $0.20 = 5,256.00
    assert lines["lambda_requests"] == pytest.approx(5256.00, abs=0.005)
    # 300 million x $1.00/M + 25,980 million x $0.90/M = 300 + 23,382 = 23,682.00
    assert lines["http_api_requests"] == pytest.approx(23682.00, abs=0.005)
    # 26.28e9 x 0.010 s x 1 GB x $0.0000166667 = 4,380.0088 (AWS rounds the GB-s price)
    assert lines["lambda_compute"] == pytest.approx(4380.00, abs=0.01)
    # 1% cold, 400 ms each: 26.28e9 x 0.01 x 0.4 s x 1 GB x $0.0000166667 = 1,752.00
    assert lines["lambda_init"] == pytest.approx(1752.00, abs=0.01)
    # RDS Proxy on the 2 vCPUs of db.t4g.small: 2 x $0.015 x 730 = 21.90
    assert lines["rds_proxy"] == pytest.approx(21.90, abs=0.005)


def test_the_guides_2800_a_month_is_not_what_the_model_gives() -> None:
    lines = items("lambda", 10_000, lambda_duration_ms=10.0, lambda_memory_mb=1024)
    # Requests, the HTTP API and compute alone: 5,256 + 23,682 + 4,380.01 = 33,318.01.
    core = lines["lambda_requests"] + lines["http_api_requests"] + lines["lambda_compute"]
    assert core == pytest.approx(33318.01, abs=0.01)
    assert core / GUIDE_LAMBDA_10K == pytest.approx(11.9, abs=0.05)
    total = sum(lines.values())
    assert total > 10 * GUIDE_LAMBDA_10K


def test_billed_duration_rounds_up_to_the_millisecond_and_scales_with_memory() -> None:
    # 10.2 ms bills 11 ms; at 2048 MB, 1 RPS: 2.628e6 x 0.011 s x 2 GB x $0.0000166667
    lines = items("lambda", 1, lambda_duration_ms=10.2, lambda_memory_mb=2048)
    assert lines["lambda_compute"] == pytest.approx(2_628_000 * 0.011 * 2 * 0.0000166667)
    arm = items("lambda", 1, lambda_duration_ms=10.2, lambda_architecture="arm64")
    assert arm["lambda_compute"] == pytest.approx(2_628_000 * 0.011 * 1 * 0.0000133334)


def test_billed_duration_is_the_measured_per_invoke_mean_when_there_is_one() -> None:
    scale = 1769 / 1024
    # Measured per invoke (each scaled, then rounded up): 7.6 ms on average, 1 RPS, 1 GB.
    lines = items(
        "lambda", 1, lambda_duration_ms=4.097, lambda_cpu_scale=scale, lambda_billed_ms=7.6
    )
    assert lines["lambda_compute"] == pytest.approx(2_628_000 * 0.0076 * 1 * 0.0000166667)
    # Only the mean: 4.097 ms x 1.7275 = 7.08 ms, rounded up once to 8 ms.
    mean_only = items("lambda", 1, lambda_duration_ms=4.097, lambda_cpu_scale=scale)
    assert mean_only["lambda_compute"] == pytest.approx(2_628_000 * 0.008 * 1 * 0.0000166667)


def test_sqs_requests_per_job_follow_each_consumers_batches() -> None:
    pinned = {
        "mix_presign": 0.02,
        "mix_enqueue": 0.02,
        "jobs_batch_size": 10,
        "worker_concurrency": 4,
        "sqs_pollers_lambda": 5,
        "sqs_poll_wait_s": 20,
        "fargate_worker_min_tasks": 1,
        "min_instances": 2,
    }
    # 100 RPS: 262.8 million requests a month, 4% of them make a job: 10,512,000 jobs.
    # Lambda: a send, then a receive and a delete per batch of 10 = 1.2 a job (12,614,400),
    # and 5 pollers' empty 20 s polls: 5 x 2,628,000 / 20 = 657,000. At $0.40 a million:
    assert items("lambda", 100, **pinned)["sqs"] == pytest.approx(13_271_400 * 0.4e-6)  # 5.31
    # Containers: a send, a delete per message, a receive per 4 + 1 = 2.2 a job (23,126,400);
    # one Fargate worker task polls 131,400 times, a worker on each of 2 instances 262,800.
    assert items("fargate", 100, **pinned)["sqs"] == pytest.approx(23_257_800 * 0.4e-6)  # 9.30
    assert items("ec2", 100, **pinned)["sqs"] == pytest.approx(23_389_200 * 0.4e-6)  # 9.36
    assert Inputs(jobs_batch_size=5).sqs_per_job("lambda") == pytest.approx(1.4)
    assert Inputs(worker_concurrency=20).sqs_per_job("ec2") == pytest.approx(2.1)
    given = Inputs(sqs_requests_per_job_lambda=3.0, sqs_requests_per_job_containers=3.0)
    assert (given.sqs_per_job("lambda"), given.sqs_per_job("fargate")) == (3.0, 3.0)
    assumptions = Inputs().assumptions()
    assert assumptions["sqs_requests_per_job_lambda"]["value"] == pytest.approx(1.2)
    assert "with-sqs.html" in assumptions["sqs_requests_per_job_lambda"]["note"]
    assert "services-sqs-scaling.html" in assumptions["sqs_pollers_lambda"]["note"]


def test_http_api_tier_starts_above_300_million_requests() -> None:
    price = PRICES["http_api_request"]
    assert price.cost(300_000_000) == pytest.approx(300.0)
    assert price.cost(400_000_000) == pytest.approx(300.0 + 90.0)


def test_fixed_monthly_costs_from_the_stacks() -> None:
    fargate = items("fargate", 1, min_tasks=2)
    # Two 1 vCPU / 2 GB web tasks (the availability floor) for 730 h.
    assert fargate["fargate_vcpu"] == pytest.approx(2 * 1 * 730 * 0.04048)  # 59.10
    assert fargate["fargate_memory"] == pytest.approx(2 * 2 * 730 * 0.004445)  # 12.98
    # The worker service: one 0.5 vCPU / 1 GB task.
    assert fargate["fargate_worker"] == pytest.approx(0.5 * 730 * 0.04048 + 730 * 0.004445)
    # ALB hours, plus LCUs at 1 RPS (bytes processed dominate, a fraction of one LCU).
    assert 730 * 0.0225 < fargate["alb"] < 730 * 0.0225 + 730 * 0.008 * 0.01
    ec2 = items("ec2", 1, min_instances=2)
    assert ec2["ec2_instances"] == pytest.approx(2 * 730 * 0.085)  # two c6i.large
    assert ec2["ebs"] == pytest.approx(2 * 20 * 0.08)
    for lines in (items("lambda", 1), fargate, ec2):
        assert lines["rds_instance"] == pytest.approx(730 * 0.032)  # db.t4g.small
        assert lines["rds_storage"] == pytest.approx(20 * 0.115)
        assert lines["public_ipv4"] == pytest.approx(730 * 0.005)  # the NAT gateway's
        assert lines["nat"] >= 730 * 0.045
        assert lines["secrets_manager"] == pytest.approx(0.80)
    assert "rds_proxy" not in fargate
    assert "rds_proxy" not in ec2


def test_direct_alb_replaces_cloudfront_with_data_transfer_and_two_addresses() -> None:
    lines = items("fargate", 100, direct_alb=True)
    assert "cloudfront_requests" not in lines
    assert lines["alb_public_ipv4"] == pytest.approx(2 * 730 * 0.005)
    assert lines["data_transfer_out"] > 0
    assert items("fargate", 100)["cloudfront_requests"] == pytest.approx(
        100 * SECONDS / 10_000 * 0.01
    )


def test_containers_are_sized_for_the_peak_with_a_floor_of_two() -> None:
    engine = Model(Inputs(server_cpu_ms=2.0, peak_ratio=3.0, min_tasks=2), PRICES)
    assert engine.fargate_tasks(1)[0] == 2
    # 1,000 RPS x 3 = 3,000 RPS x 2 ms = 6 vCPU busy; at a 60% target, 1 vCPU tasks: 10.
    assert engine.fargate_tasks(1000)[0] == 10
    # Web 6 vCPU + jobs (3,000 x 4% x 20 ms = 2.4) on 2-vCPU instances at 60%: 8.4 / 1.2 = 7.
    assert engine.ec2_instances(1000) == 7


def test_crossover_is_the_first_whole_rps_where_the_target_is_cheaper() -> None:
    engine = Model(Inputs(), PRICES)
    for target in ("fargate", "ec2"):
        rps = engine.crossover(target)
        assert rps is not None
        assert rps > 1
        assert engine.total(target, rps) < engine.total("lambda", rps)
        assert engine.total(target, rps - 1) >= engine.total("lambda", rps - 1)
    # Containers that cost nothing per request never cross when Lambda is free per request.
    cheap = Model(Inputs(lambda_duration_ms=0.0, cold_start_rate=0.0), PRICES)
    assert cheap.crossover("fargate", high=10) is None


def test_json_document_keys_and_assumptions() -> None:
    document = model(Inputs(rps=(1.0, 10_000.0), lambda_duration_ms=10.0))
    assert set(document["monthly_usd"]) == {"lambda", "lambda_mi", "fargate", "ec2"}
    assert set(document["line_items"]) == set(document["monthly_usd"])
    assert list(document["monthly_usd"]["lambda"]) == ["1", "10000"]
    assert document["line_items"]["lambda"]["10000"]["lambda_requests"] == 5256.00
    assert document["monthly_usd"]["ec2"]["1"] == round(
        sum(items("ec2", 1, lambda_duration_ms=10.0).values()), 2
    )
    assert set(document["crossover_rps"]) == {"lambda_mi", "fargate", "ec2"}
    assumption = document["assumptions"]["lambda_duration_ms"]
    assert assumption == {
        "value": 10.0,
        "source": "assumed",
        "note": "mean duration of an API invoke on Lambda",
    }
    assert all(a["source"] in {"measured", "assumed"} for a in document["assumptions"].values())


def test_measured_figures_replace_assumptions_weighted_by_the_mix() -> None:
    results: dict[str, Any] = {
        "coldstart": {"app_init_ms": 420.0},
        "load": {
            "lambda_warm": {
                name: {
                    "mean_ms": mean,
                    "billed_ms_mean": billed,
                    "cpu_scale": 1769 / 1024,
                    "log_bytes": 800.0,
                    "log_events": 2.0,
                }
                for name, mean, billed in (
                    ("read", 4.0, 7.5),
                    ("presign", 8.0, 14.2),
                    ("enqueue", 16.0, 28.1),
                )
            },
            "scenarios": {
                name: {
                    "server_cpu_ms": cpu,
                    "log_bytes": 210.0,
                    "log_events": 1.0,
                    "request_bytes": 400.0,
                    "response_bytes": 800.0,
                }
                for name, cpu in (("read", 3.0), ("presign", 5.0), ("enqueue", 8.0))
            },
        },
    }
    inputs = measured_inputs(results, Inputs(mix_read=0.5, mix_presign=0.25, mix_enqueue=0.25))
    assert inputs.lambda_duration_ms == pytest.approx(0.5 * 4 + 0.25 * 8 + 0.25 * 16)
    assert inputs.lambda_cpu_scale == pytest.approx(1769 / 1024)
    assert inputs.lambda_billed_ms == pytest.approx(0.5 * 7.5 + 0.25 * 14.2 + 0.25 * 28.1)
    assert "lambda_billed_ms" in inputs.measured
    assert inputs.server_cpu_ms == pytest.approx(0.5 * 3 + 0.25 * 5 + 0.25 * 8)
    assert inputs.lambda_init_ms == 420.0
    document = model(inputs)
    assert document["assumptions"]["server_cpu_ms"]["source"] == "measured"
    assert document["assumptions"]["peak_ratio"]["source"] == "assumed"
    # Billed means scaled for another memory (or not at all, before runs recorded a scale)
    # are not this model's: only the mean is used then.
    for scale in (None, 1769 / 2048):
        warm = results["load"]["lambda_warm"]
        results["load"]["lambda_warm"] = {n: {**w, "cpu_scale": scale} for n, w in warm.items()}
        assert measured_inputs(results, Inputs()).lambda_billed_ms is None


def test_measured_jobs_are_weighted_by_the_jobs_the_mix_makes() -> None:
    jobs = {
        "ingest": {"duration_ms_mean": 40.0, "cpu_ms_mean": 20.0},
        "export": {"duration_ms_mean": 25.0, "cpu_ms_mean": 15.0},
    }
    mix = Inputs(mix_read=0.9, mix_presign=0.08, mix_enqueue=0.02)
    inputs = measured_inputs({"worker": {"jobs": jobs}}, mix)
    # An ingest per upload (8% of requests), an export per submitted job (2%).
    assert inputs.job_duration_ms == pytest.approx((0.08 * 40 + 0.02 * 25) / 0.1)  # 37
    assert inputs.job_cpu_ms == pytest.approx((0.08 * 20 + 0.02 * 15) / 0.1)  # 19
    assert {"job_duration_ms", "job_cpu_ms"} <= inputs.measured
    # A run without real jobs (older, or --ingests 0) leaves the assumptions.
    for worker in ({}, {"jobs": None}, {"jobs": {"ingest": jobs["ingest"]}}):
        unmeasured = measured_inputs({"worker": worker}, mix)
        assert (unmeasured.job_duration_ms, unmeasured.job_cpu_ms) == (200.0, 20.0)
        assert "job_duration_ms" not in unmeasured.measured


def test_a_duration_or_memory_given_drops_the_measured_per_invoke_billing(tmp_path: Path) -> None:
    warm = {"mean_ms": 4.0, "billed_ms_mean": 7.5, "cpu_scale": 1769 / 1024}
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"load": {"lambda_warm": dict.fromkeys(MIX_ENDPOINTS, warm)}}))

    def billed(*flags: str) -> dict[str, Any]:
        args = cost.parser().parse_args(["--measured", str(results), *flags])
        found: dict[str, Any] = cost.build_inputs(args).assumptions()["lambda_billed_ms"]
        return found

    assert billed() == {"value": 7.5, "source": "measured", "note": ANY}
    # The mean rounded up once: 4 ms at 2048 MB (a whole vCPU), 5 ms given, 4 ms x 2 scaled.
    for flags, rounded in (
        (["--lambda-memory-mb", "2048"], 4),
        (["--lambda-duration-ms", "5"], 5),
        (["--set", "lambda_cpu_scale=2"], 8),
    ):
        assert billed(*flags) == {"value": rounded, "source": "assumed", "note": ANY}
    assert billed("--lambda-memory-mb", "2048", "--set", "lambda_billed_ms=9")["value"] == 9.0


def test_cli_flags_override_measurements(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"coldstart": {"app_init_ms": 999.0}}))
    argv = ["--measured", str(results), "--rps", "1,10000", "--lambda-duration-ms", "10"]
    argv += ["--set", "peak_ratio=2", "--set", "direct_alb=true", "--json"]
    assert cost.main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    assumptions = document["assumptions"]
    assert assumptions["lambda_init_ms"] == {
        "value": 999.0,
        "source": "measured",
        "note": assumptions["lambda_init_ms"]["note"],
    }
    assert assumptions["lambda_duration_ms"]["source"] == "assumed"
    assert assumptions["peak_ratio"]["value"] == 2.0
    assert assumptions["direct_alb"]["value"] is True
    assert document["line_items"]["lambda"]["10000"]["http_api_requests"] == 23682.00
    with pytest.raises(SystemExit, match="unknown input"):
        cost.main(["--no-measured", "--set", "no_such_input=1"])


def test_every_price_says_where_it_comes_from(tmp_path: Path) -> None:
    for price in PRICES.items.values():
        assert price.unit
        assert price.region
        assert price.checked
        assert price.source.startswith("https://aws.amazon.com/")
    bad = tmp_path / "prices.toml"
    bad.write_text('[meta]\nregion = "x"\nhours_per_month = 730\n[thing]\nusd = 1.0\nper = 1\n')
    with pytest.raises(ValueError, match=r"\[thing\]"):
        load_prices(bad)
