"""The lambda_mi target (Lambda Managed Instances) against figures worked out by hand from
bench/prices.toml: the instances the peak keeps, the management fee and request charge, the
parts it shares with Lambda, its crossover, its limits and the report's words on it."""

from __future__ import annotations

import pytest

from bench.cost import model
from bench.cost.inputs import InputError, Inputs
from bench.cost.model import Model
from bench.cost.prices import load_prices
from bench.report.summary import managed_instances_text, sensitivity_table, summary_table

PRICES = load_prices()
HOURS = 730
M7I_LARGE = 0.1008  # $/hour, 2 vCPU


def engine(**inputs: object) -> Model:
    return Model(Inputs(**inputs), PRICES)  # type: ignore[arg-type]


def test_the_defaults_price_the_stacks_knobs() -> None:
    i = Inputs()
    # deployment/settings.py: m7i.large first, 4096 MB at 4 GiB per vCPU (one vCPU per
    # environment), 6 processes each, 12 vCPUs at most, 3 environments; AWS's 3 instances.
    assert i.lambda_mi_instance_type == "m7i.large"
    assert (i.lambda_mi_memory_mb, i.lambda_mi_memory_per_vcpu) == (4096, 4)
    assert (i.lambda_mi_per_env_concurrency, i.lambda_mi_max_vcpus) == (6, 12)
    assert (i.lambda_mi_min_environments, i.lambda_mi_min_instances) == (3, 3)
    assert i.mi_cpu_ms() == i.server_cpu_ms  # unset: the containers' CPU per request


def test_an_idle_month_pays_for_the_three_instances_aws_keeps() -> None:
    lines = engine().line_items("lambda_mi", 1)
    # 3 x m7i.large x 730 h x $0.1008 = 220.752
    assert lines["lambda_mi_instances"] == pytest.approx(220.752)
    # 15 % of that on-demand price: 33.1128
    assert lines["lambda_mi_management"] == pytest.approx(33.1128)
    # 2.628 million requests x $0.20 / million = 0.5256
    assert lines["lambda_mi_requests"] == pytest.approx(0.5256)
    # No duration: nothing per GB-second.
    assert not {"lambda_compute", "lambda_init"} & set(lines)
    zero = engine().line_items("lambda_mi", 0)
    assert zero["lambda_mi_instances"] == pytest.approx(220.752)
    assert zero["lambda_mi_requests"] == 0


def test_at_1000_rps_the_peak_is_sized_on_cpu_at_the_target() -> None:
    e = engine(server_cpu_ms=2.0, peak_ratio=3.0, lambda_duration_ms=10.0)
    # Peak 3,000 RPS x 2 ms = 6 vCPUs busy; at 60 % of 1 vCPU each: 10 environments. In
    # flight 3,000 x 10 ms = 30 requests, 5 environments of 6 processes: CPU decides.
    sizing = e.lambda_mi_size(1000)
    assert (sizing.environments, sizing.instances, sizing.vcpus) == (10, 5, 10)
    assert sizing.busy_vcpus == pytest.approx(6.0)
    assert sizing.in_flight == pytest.approx(30.0)
    lines = e.line_items("lambda_mi", 1000)
    # 2 environments on each m7i.large: 5 x 730 x $0.1008 = 367.92
    assert lines["lambda_mi_instances"] == pytest.approx(367.92)
    assert lines["lambda_mi_management"] == pytest.approx(0.15 * 367.92)
    # 2.628 billion requests x $0.20 / million = 525.60
    assert lines["lambda_mi_requests"] == pytest.approx(525.60)
    # The same front as Lambda's: 300 M x $1.00/M + 2,328 M x $0.90/M = 2,395.20, one RDS
    # Proxy on db.t4g.small's 2 vCPUs (2 x $0.015 x 730 = 21.90).
    assert lines["http_api_requests"] == pytest.approx(2395.20)
    assert lines["rds_proxy"] == pytest.approx(21.90)
    on_demand = e.line_items("lambda", 1000)
    for shared in ("http_api_requests", "rds_proxy", "lambda_jobs", "nat", "sqs", "s3"):
        assert lines[shared] == pytest.approx(on_demand[shared]), shared


def test_long_requests_are_sized_on_the_processes_they_keep_busy() -> None:
    e = engine(server_cpu_ms=2.0, peak_ratio=3.0, lambda_duration_ms=100.0)
    # In flight 3,000 x 100 ms = 300, at 6 per environment: 50 environments (CPU needs 10).
    sizing = e.lambda_mi_size(1000)
    assert (sizing.environments, sizing.instances) == (50, 25)
    # A measured CPU per process request replaces the containers' figure.
    assert engine(lambda_mi_cpu_ms=6.0).lambda_mi_size(1000).environments == 30


def test_the_instance_type_and_a_savings_plan() -> None:
    # m7g.xlarge: 4 vCPUs hold 4 environments; 10 of them need 3 instances at $0.1632.
    lines = engine(lambda_mi_instance_type="m7g.xlarge").line_items("lambda_mi", 1000)
    assert lines["lambda_mi_instances"] == pytest.approx(3 * HOURS * 0.1632)
    assert lines["lambda_mi_management"] == pytest.approx(0.15 * 3 * HOURS * 0.1632)
    # A Savings Plan discounts the instances, not the fee (on the on-demand price).
    saved = engine(savings_plan_discount=0.3).line_items("lambda_mi", 1)
    assert saved["lambda_mi_instances"] == pytest.approx(0.7 * 220.752)
    assert saved["lambda_mi_management"] == pytest.approx(33.1128)
    with pytest.raises(InputError, match="cannot hold an execution environment of 4 vCPUs"):
        engine(lambda_mi_memory_mb=16_384)


def test_the_crossover_with_lambda_is_the_first_whole_rps_where_it_is_cheaper() -> None:
    e = engine()
    rps = e.crossover("lambda_mi")
    assert rps is not None
    assert rps > 100  # three instances cost more than Lambda's requests below that
    assert e.total("lambda_mi", rps) < e.total("lambda", rps)
    assert e.total("lambda_mi", rps - 1) >= e.total("lambda", rps - 1)
    document = model(Inputs(rps=(1.0, 10_000.0)))
    assert document["crossover_rps"]["lambda_mi"] == rps
    assert document["crossover_rps_direct_alb"]["lambda_mi"] == rps  # no ALB
    assert set(document["line_items"]["lambda_mi"]["1"]) >= {
        "lambda_mi_instances",
        "lambda_mi_management",
        "lambda_mi_requests",
    }
    assert document["sizing"]["1"]["lambda_mi_instances"] == 3
    assert document["prices"]["lambda_mi_management_fee"]["source"] == (
        "https://aws.amazon.com/lambda/pricing/"
    )


@pytest.fixture(scope="module")
def document() -> dict[str, object]:
    return model(Inputs(rps=(1.0, 1_000.0, 10_000.0)))


def test_the_limits_it_would_hit_are_flagged_with_their_knobs(
    document: dict[str, object],
) -> None:
    found = [w for w in document["warnings"] if w["target"] == "lambda_mi"]  # type: ignore[attr-defined]
    assert not [w for w in found if w["rps"] == 1.0]
    by_limit = {(w["rps"], w["limit"]): w for w in found}
    vcpus = by_limit[(10_000.0, "maximum vCPUs")]
    assert vcpus["knob"] == "lambda_mi_max_vcpus"
    assert "needs 100 execution environments on 50 m7i.large (100 vCPUs)" in vcpus["message"]
    proxy = by_limit[(10_000.0, "RDS Proxy connections")]
    assert "600 RDS Proxy clients; the proxy may open 72" in proxy["message"]
    # A peak 3x the average needs 10 environments against 4: more than doubling within five
    # minutes may be throttled.
    speed = by_limit[(1_000.0, "scaling speed")]
    assert speed["knob"] == "lambda_mi_min_environments"
    assert "needs 10 environments, the average 4" in speed["message"]
    assert (1_000.0, "maximum vCPUs") not in by_limit  # 5 x 2 vCPUs <= 12
    # Keeping the peak's environments, or a peak that does not double, lifts it.
    for lifted in (
        model(Inputs(rps=(1_000.0,), lambda_mi_min_environments=10)),
        model(Inputs(rps=(1_000.0,), peak_ratio=2.0)),
    ):
        assert "scaling speed" not in {w["limit"] for w in lifted["warnings"]}


def test_the_report_prices_it_beside_the_others(document: dict[str, object]) -> None:
    results = {"cost": document}
    assert "Lambda Managed Instances $/month" in summary_table(results)
    assert "Lambda Managed Instances cost less than Lambda from **" in summary_table(results)
    assert "Lambda Managed Instances from |" in sensitivity_table(results)
    text = managed_instances_text(document)
    assert "keeps 3 instances (m7i.large) running" in text
    assert "may be throttled" in text
