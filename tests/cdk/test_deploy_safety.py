"""Safe deploys and day two (issue 17): the API's canary with alarm rollback, container
deployment alarms, EC2 signals, the HTTP API's own domain, and one dashboard per target."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from cdk.components.lambda_deploy import API_SERVICE, EMF_NAMESPACE
from deployment.settings import DeploySettings, SettingsError
from tests.cdk.conftest import VARIANT_CONTEXT, Assembly


def _rollback_alarms(which: Assembly) -> dict[str, dict[str, Any]]:
    alarms = which.resources("Lambda", "AWS::CloudWatch::Alarm").items()
    return {
        props["MetricName"]: props
        for _, alarm in alarms
        if "(rollback)" in (props := alarm["Properties"])["AlarmDescription"]
    }


def _version_ref(dimensions: list[dict[str, Any]], name: str) -> Any:
    (value,) = [d["Value"] for d in dimensions if d["Name"] == name]
    return value


@pytest.mark.parametrize(
    ("which", "config"),
    [
        ("assembly", "CodeDeployDefault.LambdaAllAtOnce"),
        ("variant", "CodeDeployDefault.LambdaCanary10Percent5Minutes"),
    ],
)
def test_the_api_alias_shifts_through_codedeploy_and_rolls_back_on_alarms(
    request: pytest.FixtureRequest, which: str, config: str
) -> None:
    synth: Assembly = request.getfixturevalue(which)
    (group,) = synth.resources("Lambda", "AWS::CodeDeploy::DeploymentGroup").values()
    props = group["Properties"]
    assert props["DeploymentConfigName"] == config
    assert set(props["AutoRollbackConfiguration"]["Events"]) == {
        "DEPLOYMENT_FAILURE",
        "DEPLOYMENT_STOP_ON_REQUEST",
        "DEPLOYMENT_STOP_ON_ALARM",
    }
    assert props["AlarmConfiguration"]["Enabled"] is True
    named = {alarm["Name"]["Ref"] for alarm in props["AlarmConfiguration"]["Alarms"]}
    rollback = synth.resources("Lambda", "AWS::CloudWatch::Alarm")
    assert named == {
        logical_id
        for logical_id, alarm in rollback.items()
        if "(rollback)" in alarm["Properties"]["AlarmDescription"]
    }
    assert len(named) == 4
    # Only the API's alias moves through CodeDeploy; the jobs aliases move with the stack.
    aliases = synth.resources("Lambda", "AWS::Lambda::Alias").values()
    updated = [a for a in aliases if "CodeDeployLambdaAliasUpdate" in a.get("UpdatePolicy", {})]
    assert len(updated) == 1


def test_rollback_alarms_watch_the_new_versions_5xx_latency_errors_and_throttles(
    variant: Assembly,
) -> None:
    alarms = _rollback_alarms(variant)
    assert set(alarms) == {"errors", "latency", "Errors", "Throttles"}
    app_5xx, p99 = alarms["errors"], alarms["latency"]
    for alarm in (app_5xx, p99):
        assert alarm["Namespace"] == EMF_NAMESPACE
        assert {d["Name"] for d in alarm["Dimensions"]} == {"service", "version"}
        assert _version_ref(alarm["Dimensions"], "service") == API_SERVICE
        version = _version_ref(alarm["Dimensions"], "version")
        assert version["Fn::GetAtt"][0].startswith("ApiFunctionCurrentVersion")
        assert alarm["AlarmActions"]  # the alarm topic hears of a rollback
    assert (app_5xx["Statistic"], app_5xx["Threshold"]) == ("Sum", 3)
    assert (p99["ExtendedStatistic"], p99["Threshold"]) == ("p99", 2000)
    errors = alarms["Errors"]
    assert errors["Namespace"] == "AWS/Lambda"
    assert _version_ref(errors["Dimensions"], "ExecutedVersion") == version
    assert {d["Name"] for d in alarms["Throttles"]["Dimensions"]} == {"FunctionName", "Resource"}


def test_the_rollback_alarms_read_what_the_handler_writes() -> None:
    from handlers.api import DEFAULT_NAMESPACE, SERVICE

    assert (EMF_NAMESPACE, API_SERVICE) == (DEFAULT_NAMESPACE, SERVICE)


def test_targets_deploy_after_shared_and_its_migrations(assembly: Assembly) -> None:
    shared = assembly.stacks["Trident-Shared"]
    for name in ("Lambda", "Fargate", "Ec2"):
        assert shared in assembly.stacks[f"Trident-{name}"].dependencies


def test_fargate_web_rolls_back_on_5xx_and_latency_alarms(variant: Assembly) -> None:
    services = variant.resources("Fargate", "AWS::ECS::Service").values()
    (web,) = [s for s in services if s["Properties"]["LoadBalancers"]]
    config = web["Properties"]["DeploymentConfiguration"]
    assert config["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert config["Alarms"]["Enable"] is True
    assert config["Alarms"]["Rollback"] is True
    names = set(config["Alarms"]["AlarmNames"])
    assert names == {"Trident-Fargate-Web5xx", "Trident-Fargate-WebP99"}
    alarms = variant.resources("Fargate", "AWS::CloudWatch::Alarm").values()
    watched = {
        alarm["Properties"]["MetricName"]: alarm["Properties"]
        for alarm in alarms
        if alarm["Properties"].get("AlarmName") in names
    }
    assert set(watched) == {"HTTPCode_Target_5XX_Count", "TargetResponseTime"}
    assert watched["HTTPCode_Target_5XX_Count"]["Threshold"] == 3
    assert watched["TargetResponseTime"]["ExtendedStatistic"] == "p99"
    assert watched["TargetResponseTime"]["Threshold"] == 2.0


def test_ec2_signals_once_the_target_group_says_healthy(assembly: Assembly) -> None:
    (asg,) = assembly.resources("Ec2", "AWS::AutoScaling::AutoScalingGroup").values()
    rolling = asg["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert rolling["WaitOnResourceSignals"] is True
    assert rolling["MinSuccessfulInstancesPercent"] == 100
    assert asg["CreationPolicy"]["ResourceSignal"]["Timeout"] == rolling["PauseTime"]
    user_data = assembly.user_data()
    assert "aws elbv2 describe-target-health" in user_data
    assert "--target-group-arn '<ref>'" in user_data
    assert user_data.index('"$state" = healthy') < user_data.index("signal 0")
    assembly.template("Ec2").has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "elasticloadbalancing:DescribeTargetHealth"})]
                )
            }
        },
    )


def test_the_http_api_takes_a_regional_domain(variant: Assembly, assembly: Assembly) -> None:
    domain_name = VARIANT_CONTEXT["lambda_domain_name"]
    template = variant.json("Lambda")
    (domain,) = variant.resources("Lambda", "AWS::ApiGatewayV2::DomainName").values()
    (config,) = domain["Properties"]["DomainNameConfigurations"]
    assert domain["Properties"]["DomainName"] == domain_name
    assert config["EndpointType"] == "REGIONAL"
    assert config["CertificateArn"] == VARIANT_CONTEXT["lambda_certificate_arn"]
    (mapping,) = variant.resources("Lambda", "AWS::ApiGatewayV2::ApiMapping").values()
    assert mapping["Properties"]["Stage"] == "$default"
    (rule,) = [r for name, r in template["Rules"].items() if "Certificate" in name]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": ["us-east-1", {"Ref": "AWS::Region"}]}
    assert "stack's own region" in assertion["AssertDescription"]
    outputs = template["Outputs"]
    assert outputs["ApiUrl"]["Value"] == f"https://{domain_name}"
    assert outputs["ApiDomainTarget"]["Value"]["Fn::GetAtt"][1] == "RegionalDomainName"
    # The upload page on the domain may POST to the narrowed bucket CORS.
    (fn,) = [
        fn
        for fn in variant.resources("Lambda", "AWS::Lambda::Function").values()
        if fn["Properties"].get("Handler") == "handlers.api.handler"
    ]
    origins = fn["Properties"]["Environment"]["Variables"]["FILES_CORS_ORIGINS"].split(",")
    assert f"https://{domain_name}" in origins
    assert not assembly.resources("Lambda", "AWS::ApiGatewayV2::DomainName")
    assert "execute-api" in json.dumps(assembly.json("Lambda")["Outputs"]["ApiUrl"])


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"lambda_deployment": "blue_green"}, "lambda_deployment: unknown 'blue_green'"),
        ({"lambda_domain_name": "api.example.com"}, "go together"),
        (
            {"lambda_domain_name": "a.example.com", "lambda_certificate_arn": "arn:aws:iam::1:x"},
            "must be an ACM certificate ARN",
        ),
        ({"rollback_p99_ms": "0"}, "rollback_p99_ms"),
    ],
)
def test_bad_deploy_knobs_are_refused(context: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        DeploySettings.from_context(context.get)


def test_narrowed_files_origins_admit_each_targets_own_domain() -> None:
    narrowed = DeploySettings(
        files_cors_origins=("https://app.example.com",),
        lambda_domain_name="api.example.com",
        lambda_certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/x",
    )
    assert narrowed.files_origins == ("https://app.example.com", "https://api.example.com")
    assert narrowed.lambda_certificate_region == "eu-west-1"
    assert DeploySettings(lambda_domain_name=None).files_origins == ("*",)


@pytest.mark.parametrize(
    ("stack", "compute"),
    [
        ("Lambda", ["@initDuration", "ConcurrentExecutions", "ClientConnections"]),
        ("Fargate", ["RunningTaskCount", "HTTPCode_ELB_5XX_Count"]),
        ("Ec2", ["GroupInServiceInstances", "HealthyHostCount"]),
    ],
)
def test_one_dashboard_per_target_with_its_name_as_output(
    assembly: Assembly, stack: str, compute: list[str]
) -> None:
    (logical_id,) = assembly.resources(stack, "AWS::CloudWatch::Dashboard")
    dashboard = assembly.json(stack)["Resources"][logical_id]["Properties"]
    assert dashboard["DashboardName"] == f"Trident-{stack}"
    assert assembly.json(stack)["Outputs"]["DashboardName"]["Value"] == {"Ref": logical_id}
    body = json.dumps(dashboard["DashboardBody"])
    common = [
        "DatabaseConnections",
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "jobs_succeeded",
        "jobs_failed",
        "p50",
        "p99",
    ]
    for name in common + compute:
        assert name in body, name
    filters = assembly.resources(stack, "AWS::Logs::MetricFilter").values()
    patterns = {f["Properties"]["FilterPattern"] for f in filters}
    assert any('"job succeeded"' in p for p in patterns)
    assert any('"job failed permanently"' in p for p in patterns)
