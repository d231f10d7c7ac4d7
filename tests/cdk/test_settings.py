"""Deployment settings: context parsing and the connection budget (no jsii needed)."""

from __future__ import annotations

import pytest

from cdk.components.ec2_api import USER_DATA, render_user_data
from deployment.instances import instance_architecture
from deployment.lambda_mi import max_environments, max_processes
from deployment.settings import DeploySettings, SettingsError, instance_vcpus


def test_context_strings_become_typed_settings() -> None:
    context = {
        "lambda_memory": "1536",
        "ec2_instance_type": "c6i.xlarge",
        "targets": "lambda,ec2",
        "db_multi_az": "true",
        "lambda_reserved_concurrency": "none",
        "cors_origins": '["https://a.example", "https://b.example"]',
    }
    settings = DeploySettings.from_context(context.get)
    assert settings.lambda_memory == 1536
    assert settings.ec2_instance_type == "c6i.xlarge"
    assert settings.ec2_workers == 4
    assert settings.targets == ("lambda", "ec2")
    assert settings.db_multi_az is True
    assert settings.lambda_reserved_concurrency is None
    assert settings.cors_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("lambda_memory", "lots", "lambda_memory='lots'"),
        ("db_multi_az", "maybe", "db_multi_az='maybe'"),
        ("targets", "lambda,k8s", "unknown ['k8s']"),
        ("lambda_architecture", "sparc", "x86_64 or arm64"),
        ("fargate_domain_name", "api.example.com", "go together"),
        ("nat_gateways", "0", "nat_gateways"),
        ("cors_origins", "*,https://a.example", "cannot be combined"),
        ("jobs_visibility_timeout_s", "120", "jobs_visibility_timeout_s must be >= 180"),
        ("proxy_statement_cache_size", "-1", "proxy_statement_cache_size must be within"),
        ("ec2_min_instances", "3", "ec2_max_instances must be >= 2 and > ec2_min_instances"),
        ("lambda_python", "3.11", "lambda_python: '3.11' is not a runtime the Lambda bundle"),
    ],
)
def test_bad_context_is_refused_by_name(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        DeploySettings.from_context({name: value}.get)


def test_a_profile_is_a_starting_point_the_context_overrides() -> None:
    ha = DeploySettings.of_profile("ha")
    assert (ha.nat_gateways, ha.db_multi_az, ha.fargate_min_tasks, ha.ec2_min_instances) == (
        2,
        True,
        2,
        2,
    )
    ha.check_connection_budget()
    tuned = DeploySettings.from_context({"profile": "ha", "fargate_min_tasks": "3"}.get)
    assert (tuned.fargate_min_tasks, tuned.nat_gateways) == (3, 2)
    with pytest.raises(SettingsError, match=r"unknown 'prod'; choose from \['default', 'ha'\]"):
        DeploySettings.from_context({"profile": "prod"}.get)


def test_a_stage_picks_its_profile_and_names_its_stacks() -> None:
    prod = DeploySettings.from_context({"stage": "prod"}.get)
    assert (prod.profile, prod.stack_prefix, prod.db_multi_az, prod.nat_gateways) == (
        "ha",
        "Trident-prod",
        True,
        2,
    )
    assert (prod.db_deletion_protection, prod.log_retention_days) == (True, 90)
    assert prod.lambda_deployment == "canary10_5m"
    dev = DeploySettings.from_context({"stage": "dev"}.get)
    assert (dev.profile, dev.stack_prefix, dev.db_deletion_protection) == (
        "default",
        "Trident-dev",
        False,
    )
    # Explicit values win over the stage's and its profile's.
    context = {"stage": "prod", "nat_gateways": "1", "stack_prefix": "Acme"}
    tuned = DeploySettings.from_context(context.get)
    assert (tuned.nat_gateways, tuned.stack_prefix, tuned.db_multi_az) == (1, "Acme", True)
    assert DeploySettings().stack_prefix == "Trident"
    with pytest.raises(SettingsError, match=r"stage: unknown 'qa'; choose from \['dev', 'prod'\]"):
        DeploySettings.from_context({"stage": "qa"}.get)


def test_defaults_fit_the_database() -> None:
    settings = DeploySettings()
    budget = settings.connection_budget()
    assert sum(budget.values()) <= settings.max_connections
    settings.check_connection_budget()


def test_connection_budget_overflow_names_every_consumer() -> None:
    settings = DeploySettings(fargate_max_tasks=20)
    with pytest.raises(SettingsError) as caught:
        settings.check_connection_budget()
    message = str(caught.value)
    # 20 tasks x 2 workers x (3 + 2) connections
    assert "fargate web 200" in message
    assert "max_connections is 180" in message
    assert "RDS Proxy (lambda, lambda-mi) 72" in message


def test_fewer_targets_free_connections() -> None:
    crowded = DeploySettings(fargate_max_tasks=10)
    DeploySettings(fargate_max_tasks=10, targets=("fargate",)).check_connection_budget()
    with pytest.raises(SettingsError):
        crowded.check_connection_budget()


@pytest.mark.parametrize("origins", [("*",), ("https://app.example.com",), ()])
def test_bucket_cors_is_the_apps_rule(origins: tuple[str, ...]) -> None:
    # cdk restates app.files.cors (it never imports app): the two must not drift.
    from app.files.cors import bucket_cors_rules

    expected = [
        {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in vars(rule).items()
        }
        for rule in bucket_cors_rules(origins)
    ]
    assert DeploySettings(files_cors_origins=origins).bucket_cors_rules() == expected


def test_instance_vcpus_per_family() -> None:
    assert instance_vcpus("c6i.large") == 2
    assert instance_vcpus("m6i.4xlarge") == 16
    # A Graviton .medium has one vCPU; a burstable .medium two.
    assert instance_vcpus("c7g.medium") == 1
    assert instance_vcpus("c8g.medium") == 1
    assert instance_vcpus("t4g.medium") == 2
    assert instance_vcpus("c7g.large") == 2
    assert instance_vcpus("c8g.2xlarge") == 8
    assert instance_vcpus("db.t4g.small") == 2  # RDS classes (RDS Proxy's vCPU count)
    assert instance_architecture("c7g.large") == "arm64"
    assert instance_architecture("t4g.small") == "arm64"
    assert instance_architecture("c6i.large") == "x86_64"


@pytest.mark.parametrize("instance_type", ["c6i.medium", "c6i.metal", "c9z.large", "large"])
def test_unknown_instance_type_lists_the_known_ones(instance_type: str) -> None:
    with pytest.raises(SettingsError, match=r"known: .*c7g.* in medium, large, xlarge"):
        instance_vcpus(instance_type)
    # Refused at synth, before any stack is built.
    with pytest.raises(SettingsError, match=rf"unknown instance type '{instance_type}'; known"):
        DeploySettings.from_context({"ec2_instance_type": instance_type}.get)


def test_graviton_ec2_is_a_valid_choice() -> None:
    settings = DeploySettings.from_context({"ec2_instance_type": "c7g.medium"}.get)
    assert settings.ec2_workers == 1
    assert DeploySettings.from_context({"fargate_worker_spot": "true"}.get).fargate_worker_spot


def test_user_data_placeholders_must_all_be_filled() -> None:
    with pytest.raises(ValueError, match="placeholders"):
        render_user_data(USER_DATA, {"REGION": "us-east-1"})


def test_lambda_mi_defaults_fill_the_proxy_share_and_no_more() -> None:
    settings = DeploySettings()
    # 12 vCPUs / (4096 MB at 4 GiB per vCPU) = 12 environments x 6 processes.
    assert (max_environments(settings), max_processes(settings)) == (12, 72)
    assert max_processes(settings) <= settings.proxy_share == 72
    # One proxy for both Lambda targets: counted once.
    assert settings.connection_budget()["RDS Proxy (lambda, lambda-mi)"] == 72
    assert "RDS Proxy (lambda)" in DeploySettings(targets=("lambda",)).connection_budget()
    assert not any("Proxy" in k for k in DeploySettings(targets=("ec2",)).connection_budget())


@pytest.mark.parametrize(
    "context",
    [
        {"lambda_mi_per_env_concurrency": "16"},  # AWS's default per vCPU: 192 processes
        {"lambda_mi_max_vcpus": "24"},
        {"proxy_max_connections_percent": "30"},  # the proxy's share shrinks to 54
    ],
)
def test_lambda_mi_processes_beyond_the_proxy_share_are_refused(context: dict[str, str]) -> None:
    settings = DeploySettings.from_context(context.get)
    with pytest.raises(SettingsError, match="Lambda Managed Instances can run") as caught:
        settings.check_connection_budget()
    message = str(caught.value)
    for knob in ("lambda_mi_per_env_concurrency", "lambda_mi_max_vcpus", "the proxy may open"):
        assert knob in message
    # Without the target, nothing counts its processes.
    DeploySettings.from_context({**context, "targets": "lambda,fargate,ec2"}.get)
    settings.replace(targets=("lambda", "fargate", "ec2")).check_connection_budget()


def test_lambda_mi_max_environments_bounds_the_processes() -> None:
    settings = DeploySettings.from_context(
        {"lambda_mi_max_vcpus": "48", "lambda_mi_max_environments": "10"}.get
    )
    assert max_processes(settings) == 60
    settings.check_connection_budget()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("lambda_mi_python", "3.12", "lambda_mi_python: '3.12' cannot run on Lambda Managed"),
        ("lambda_mi_architecture", "arm64", "m7i.large is not arm64"),
        ("lambda_mi_instance_types", "m7i.large,x9.huge", "unknown instance type 'x9.huge'"),
        ("lambda_mi_max_vcpus", "8", "lambda_mi_max_vcpus must be within 12..15000"),
        ("lambda_mi_memory_per_vcpu", "3", "lambda_mi_memory_per_vcpu must be one of"),
        ("lambda_mi_memory", "6144", "multiple of lambda_mi_memory_per_vcpu"),
        ("lambda_mi_memory", "1024", "lambda_mi_memory must be within 2048"),
        ("lambda_mi_per_env_concurrency", "0", "lambda_mi_per_env_concurrency must be within"),
        ("lambda_mi_max_environments", "2", "lambda_mi_min_environments must be >= 0 and <="),
        ("lambda_mi_domain_name", "api.example.com", "lambda_mi_domain_name and lambda_mi_cert"),
        ("targets", "lambda-mi", "lambda-mi has no jobs consumer of its own"),
    ],
)
def test_bad_lambda_mi_knobs_are_refused_by_name(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        DeploySettings.from_context({name: value}.get)


def test_lambda_mi_on_graviton_takes_graviton_types() -> None:
    context = {"lambda_mi_architecture": "arm64", "lambda_mi_instance_types": "m7g.large"}
    settings = DeploySettings.from_context(context.get)
    assert settings.lambda_mi_instance_types == ("m7g.large",)
    # Nothing: Lambda picks the instance types.
    settings = DeploySettings.from_context({**context, "lambda_mi_instance_types": ""}.get)
    assert settings.lambda_mi_instance_types == ()
