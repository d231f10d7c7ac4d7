"""The priced choices (SnapStart, Graviton EC2, Fargate Spot, a Savings Plan) against figures
worked out by hand from bench/prices.toml; each test fails if its choice stops being priced."""

from __future__ import annotations

import json

import pytest

from bench import cost
from bench.cost import choices
from bench.cost.inputs import InputError, Inputs
from bench.cost.model import Model
from bench.cost.prices import load_prices
from deployment.instances import instance_vcpus

PRICES = load_prices()
# 10,000 RPS for a month: 26.28 billion requests, 1% of them (262.8 million) cold.
LAMBDA_10K = {"lambda_duration_ms": 10.0, "lambda_memory_mb": 1024, "cold_start_rate": 0.01}


def items(target: str, rps: float, **inputs: object) -> dict[str, float]:
    return Model(Inputs(**inputs), PRICES).line_items(target, rps)  # type: ignore[arg-type]


def test_graviton_ec2_prices_at_its_own_rate_and_vcpus() -> None:
    lines = items("ec2", 1, ec2_instance_type="c7g.large", min_instances=2)
    assert lines["ec2_instances"] == pytest.approx(2 * 730 * 0.0725)  # two c7g.large
    # c7g.large has 2 vCPUs like c6i.large: the same 7 instances at 1,000 RPS (8.4 vCPU busy
    # at the peak, 1.2 usable each at a 60% target).
    sizing = {"server_cpu_ms": 2.0, "peak_ratio": 3.0}
    engine = Model(Inputs(ec2_instance_type="c7g.large", **sizing), PRICES)  # type: ignore[arg-type]
    assert engine.ec2_instances(1000) == 7
    # A c7g.medium has one vCPU (0.6 usable): 8.4 / 0.6 = 14.
    medium = Model(Inputs(ec2_instance_type="c7g.medium", **sizing), PRICES)  # type: ignore[arg-type]
    assert medium.ec2_instances(1000) == 14
    assert instance_vcpus("c7g.medium") == 1
    c8g = items("ec2", 1, ec2_instance_type="c8g.xlarge", min_instances=2)
    assert c8g["ec2_instances"] == pytest.approx(2 * 730 * 0.15952)


def test_unknown_or_unpriced_instance_type_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"unknown instance type 'c6i\.medium'; known: .*c7g"):
        Model(Inputs(ec2_instance_type="c6i.medium"), PRICES)
    # Known to the stacks, but no price here yet: the priced ones are listed.
    with pytest.raises(InputError, match=r"priced: c6i\.large, .*c7g\.medium, c7g\.large"):
        Model(Inputs(ec2_instance_type="m8g.large"), PRICES)
    with pytest.raises(InputError, match=r"lambda_mi_instance_type='m8g\.large' has no price"):
        Model(Inputs(lambda_mi_instance_type="m8g.large"), PRICES)
    with pytest.raises(SystemExit, match="known: "):
        cost.main(["--no-measured", "--set", "ec2_instance_type=z9.large"])


def test_snapstart_adds_cache_and_restore_and_bills_the_restore_not_the_init() -> None:
    plain = items("lambda", 10_000, **LAMBDA_10K)
    snap = items("lambda", 10_000, **LAMBDA_10K, lambda_snapstart=True, lambda_restore_ms=50.0)
    assert "snapstart_cache" not in plain
    # One live version, 1 GB, all month: 2,628,000 GB-s x $0.0000015046 = 3.95
    assert snap["snapstart_cache"] == pytest.approx(3.95, abs=0.005)
    # 262.8 million cold starts x 1 GB x $0.0001397998 = 36,739.39
    assert snap["snapstart_restore"] == pytest.approx(36_739.39, abs=0.005)
    # Each cold start bills 50 ms of restore instead of the 400 ms init:
    # 262.8e6 x 0.05 s x 1 GB x $0.0000166667 = 219.00 (was 1,752.00)
    assert snap["lambda_init"] == pytest.approx(219.00, abs=0.005)
    assert plain["lambda_init"] == pytest.approx(1752.00, abs=0.01)
    # The total moves by 3.95 + 36,739.39 + 219.00 - 1,752.00 = 35,210.34.
    assert sum(snap.values()) - sum(plain.values()) == pytest.approx(35_210.34, abs=0.01)
    unchanged = set(plain) - {"lambda_init"}
    assert {name: snap[name] for name in unchanged} == {name: plain[name] for name in unchanged}
    # A second cached version doubles the cache, nothing else.
    two = items("lambda", 10_000, **LAMBDA_10K, lambda_snapstart=True, lambda_snapstart_versions=2)
    assert two["snapstart_cache"] == pytest.approx(2 * snap["snapstart_cache"])
    assert two["snapstart_restore"] == snap["snapstart_restore"]


def test_snapstart_prices_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--no-measured", "--rps", "10000", "--set", "lambda_snapstart=true", "--json"]
    assert cost.main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    lines = document["line_items"]["lambda"]["10000"]
    assert lines["snapstart_restore"] > 0
    assert lines["snapstart_cache"] > 0
    assert any(note.startswith("SnapStart:") for note in document["notes"])


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_spot_worker_costs_the_spot_share_of_on_demand(arch: str) -> None:
    on_demand = items("fargate", 1, fargate_architecture=arch)
    spot = items("fargate", 1, fargate_architecture=arch, fargate_worker_spot=True)
    vcpu = PRICES[f"fargate_vcpu_hour_{arch}"].usd
    # One 0.5 vCPU / 1 GB worker task all month.
    spot_vcpu = PRICES[f"fargate_spot_vcpu_hour_{arch}"].usd
    spot_gb = PRICES[f"fargate_spot_gb_hour_{arch}"].usd
    assert vcpu is not None
    assert spot_vcpu is not None
    assert spot_gb is not None
    assert spot["fargate_worker"] == pytest.approx(0.5 * 730 * spot_vcpu + 730 * spot_gb)
    # Both dimensions are about a third of on-demand, so the line is too.
    assert spot["fargate_worker"] / on_demand["fargate_worker"] == pytest.approx(
        spot_vcpu / vcpu, rel=1e-3
    )
    if arch == "x86_64":  # 0.5 x 730 x 0.01334053 + 730 x 0.00146489 = 5.94 (was 18.02)
        assert spot["fargate_worker"] == pytest.approx(5.94, abs=0.005)
        assert on_demand["fargate_worker"] == pytest.approx(18.02, abs=0.005)
    assert {k: v for k, v in spot.items() if k != "fargate_worker"} == {
        k: v for k, v in on_demand.items() if k != "fargate_worker"
    }


# Line items a Compute Savings Plan discounts, per target (the worker only when on-demand).
COVERED = {
    "lambda": {"lambda_compute", "lambda_init"},
    "fargate": {"fargate_vcpu", "fargate_memory", "fargate_worker"},
    "ec2": {"ec2_instances"},
}


@pytest.mark.parametrize("target", ["lambda", "fargate", "ec2"])
def test_savings_plan_discounts_only_what_it_covers(target: str) -> None:
    base = {**LAMBDA_10K, "lambda_snapstart": True}
    full = items(target, 1000, **base)
    discounted = items(target, 1000, **base, savings_plan_discount=0.25)
    for name, usd in full.items():
        if name in COVERED[target]:
            assert discounted[name] == pytest.approx(0.75 * usd), name
        elif name != "lambda_jobs":
            assert discounted[name] == usd, name  # requests, SnapStart, ALB, RDS, ...
    if target == "lambda":
        # The jobs line: only its duration is discounted, not its requests.
        engine = Model(Inputs(**base), PRICES)  # type: ignore[arg-type]
        requests = PRICES["lambda_request"].cost(engine.jobs(1000) / 10 + 730 * 12)
        duration = full["lambda_jobs"] - requests
        assert discounted["lambda_jobs"] == pytest.approx(requests + 0.75 * duration)


def test_savings_plan_leaves_a_spot_worker_alone() -> None:
    spot = items("fargate", 1, fargate_worker_spot=True)
    discounted = items("fargate", 1, fargate_worker_spot=True, savings_plan_discount=0.5)
    assert discounted["fargate_worker"] == spot["fargate_worker"]
    assert discounted["fargate_vcpu"] == pytest.approx(0.5 * spot["fargate_vcpu"])


@pytest.mark.parametrize("discount", [-0.1, 1.0, 1.5])
def test_savings_plan_discount_is_a_fraction_below_one(discount: float) -> None:
    with pytest.raises(InputError, match="savings_plan_discount"):
        Model(Inputs(savings_plan_discount=discount), PRICES)


def test_arm64_targets_say_their_cpu_was_measured_on_x86(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(choices, "host_architecture", lambda: "x86_64")
    notes = Model(
        Inputs(lambda_architecture="arm64", ec2_instance_type="c7g.large"), PRICES
    ).notes()
    (note,) = [n for n in notes if n.startswith("CPU per request")]
    assert "on x86_64 here and is applied unchanged to arm64 on Lambda, EC2 (c7g.large)" in note
    assert "Fargate" not in note
    assert not any(n.startswith("CPU per request") for n in Model(Inputs(), PRICES).notes())
