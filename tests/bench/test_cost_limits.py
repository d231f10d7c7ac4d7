"""The cost model's view of the deployment: both front doors, the limits a priced load would
hit, the deployment profiles, how the crossovers move, and bad input."""

from __future__ import annotations

import json

import pytest

from bench import cost
from bench.cost import model
from bench.cost.inputs import FROM_DEPLOYMENT, InputError, Inputs
from bench.cost.model import TARGETS
from bench.report.summary import sensitivity_table, summary_table
from deployment.settings import DeploySettings

RPS = (1.0, 100.0, 1_000.0, 10_000.0)


@pytest.fixture(scope="module")
def document() -> dict[str, object]:
    return model(Inputs(rps=RPS))


def test_the_models_deployment_knobs_are_the_stacks_defaults() -> None:
    default, deploy = Inputs(), DeploySettings()
    for name, knob in FROM_DEPLOYMENT.items():
        assert getattr(default, name) == knob(deploy), name
    assert (default.min_tasks, default.min_instances) == (1, 1)
    ha = Inputs.for_profile("ha")
    assert (ha.min_tasks, ha.min_instances, ha.nat_gateways, ha.db_multi_az) == (2, 2, 2, True)
    assert ha.deployment() == DeploySettings.of_profile("ha")


def test_both_front_doors_and_both_profiles_are_priced(document: dict[str, object]) -> None:
    crossovers, direct = document["crossover_rps"], document["crossover_rps_direct_alb"]
    assert isinstance(crossovers, dict)
    assert isinstance(direct, dict)
    assert set(crossovers) == set(direct) == {"lambda_mi", "fargate", "ec2"}
    # Without CloudFront's per-request price the containers win sooner; the Lambda targets
    # have no ALB.
    assert all(direct[t] < crossovers[t] for t in ("fargate", "ec2"))
    assert direct["lambda_mi"] == crossovers["lambda_mi"]
    profiles = document["profiles"]
    assert isinstance(profiles, dict)
    assert set(profiles) == {"default", "ha"}
    default, ha = profiles["default"], profiles["ha"]
    assert default["crossover_rps"] == crossovers
    for target in TARGETS:  # a second NAT gateway and a standby database
        assert ha["monthly_usd"][target]["1"] > default["monthly_usd"][target]["1"]
    assert ha["monthly_usd_direct_alb"]["fargate"]["100"] < ha["monthly_usd"]["fargate"]["100"]


def test_the_other_profile_changes_only_its_own_knobs() -> None:
    """Priced side by side, the ha view keeps a knob set by hand (here the instance type) and
    changes what the profile changes."""
    document = model(Inputs(rps=(1.0,), ec2_instance_type="c7g.large"))
    mine = model(Inputs(rps=(1.0,), ec2_instance_type="c7g.large", min_instances=2))
    ha = document["profiles"]["ha"]["monthly_usd"]["ec2"]["1"]
    # Two c7g.large plus the ha profile's second NAT gateway and standby database.
    assert ha > mine["monthly_usd"]["ec2"]["1"]
    ha_c6i = model(Inputs(rps=(1.0,)))["profiles"]["ha"]["monthly_usd"]["ec2"]["1"]
    assert ha < ha_c6i  # c7g.large is cheaper per hour than c6i.large


def test_a_load_beyond_a_limit_is_flagged_with_its_knob(document: dict[str, object]) -> None:
    found = document["warnings"]
    assert isinstance(found, list)
    throttled = [w for w in found if w["target"] == "lambda" and w["rps"] == 10_000.0]
    assert {w["knob"] for w in throttled} >= {"api_throttle_rate", "jobs_max_concurrency"}
    assert all({"target", "rps", "limit", "knob", "message"} <= set(w) for w in found)
    assert not [w for w in found if w["rps"] == 1.0]
    tasks = [w for w in found if w["limit"] == "fargate_max_tasks"]
    assert [w["rps"] for w in tasks] == [1_000.0, 10_000.0]
    assert "needs 10 web tasks; the service scales to 4" in tasks[0]["message"]
    # Lifting the knob lifts the warning.
    lifted = model(Inputs(rps=(10_000.0,), api_throttle_rate=100_000, api_throttle_burst=100_000))
    assert "api_throttle_rate" not in {w["knob"] for w in lifted["warnings"]}


def test_the_crossovers_move_with_the_assumptions_they_hang_on(
    document: dict[str, object],
) -> None:
    rows = document["sensitivity"]
    assert isinstance(rows, list)
    assert {row["input"] for row in rows} == {
        "mix_read",
        "server_cpu_ms",
        "cold_start_rate",
        "peak_ratio",
    }
    for row in rows:
        if row["base"]:
            assert row["crossover_rps"] == document["crossover_rps"], row
    by_rate = {
        r["value"]: r["crossover_rps"]["fargate"] for r in rows if r["input"] == "cold_start_rate"
    }
    # More cold starts make Lambda dearer: the containers win sooner.
    assert by_rate[0.05] < by_rate[0.0001]


def test_the_summary_shows_both_modes_and_the_limits_beside_the_numbers(
    document: dict[str, object],
) -> None:
    text = summary_table({"cost": document})
    assert (
        "| avg RPS | Lambda $/month | Lambda Managed Instances $/month | Fargate CloudFront | "
        "Fargate direct ALB |"
    ) in text
    (row,) = [line for line in text.splitlines() if line.startswith("| 10,000 |")][:1]
    assert "⚠ Lambda: HTTP API throttle (`api_throttle_rate`)" in row
    assert "-c profile=ha" in text
    assert "with a domain on its ALB" in text
    assert "`cold_start_rate`" in sensitivity_table({"cost": document})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "no_such_input=1"], "unknown input 'no_such_input'; the inputs are: rps, "),
        (["--rps", "-5"], r"rps=\[-5.0\]: every RPS must be a number >= 0"),
        (["--set", "mix_read=0.5"], "shares within 0..1 that add to 1"),
        (["--set", "cold_start_rate=2"], r"cold_start_rate=2.0: must be within 0..1"),
        (["--set", "peak_ratio=lots"], "--set peak_ratio='lots': not a valid float"),
        (["--set", "direct_alb=maybe"], "not a valid bool"),
        (["--profile", "prod"], "--profile 'prod': one of default, ha"),
    ],
)
def test_bad_input_is_refused_with_what_is_allowed(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit, match=message):
        cost.main(["--no-measured", *argv])
    assert capsys.readouterr().out == ""  # nothing half-written


def test_zero_rps_prices_the_idle_month(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main(["--no-measured", "--rps", "0,1", "--json"]) == 0
    idle = json.loads(capsys.readouterr().out)["monthly_usd"]
    assert 0 < idle["lambda"]["0"] < idle["lambda"]["1"]
    assert idle["fargate"]["0"] <= idle["fargate"]["1"]
    with pytest.raises(InputError, match="mix_read"):
        Inputs(mix_read=1.2)
