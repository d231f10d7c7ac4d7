"""Trident-LambdaMI: the capacity provider, the API function on it, its alias and HTTP API,
and the connection budget that bounds its processes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match

from cdk.main import build_app
from deployment.settings import SettingsError
from tests.cdk.conftest import Assembly


def _only(assembly: Assembly, kind: str, stack: str = "LambdaMI") -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = assembly.resources(stack, kind).items()
    return logical_id, resource


def _api(assembly: Assembly, stack: str) -> dict[str, Any]:
    props: dict[str, Any]
    (props,) = [
        fn["Properties"]
        for fn in assembly.resources(stack, "AWS::Lambda::Function").values()
        if fn["Properties"].get("Handler") == "handlers.api.handler"
    ]
    return props


def test_capacity_provider_in_the_private_subnets_with_the_knobs(assembly: Assembly) -> None:
    template = assembly.template("LambdaMI")
    template.has_resource_properties(
        "AWS::Lambda::CapacityProvider",
        {
            "InstanceRequirements": {
                "Architectures": ["x86_64"],
                "AllowedInstanceTypes": ["m7i.large", "m7i.xlarge", "m6i.large", "m6i.xlarge"],
            },
            "CapacityProviderScalingConfig": {"MaxVCpuCount": 12},
            "VpcConfig": {
                "SecurityGroupIds": [Match.any_value()],
                "SubnetIds": Match.array_with(
                    [{"Fn::GetStackOutput": Match.object_like({"StackName": "Trident-Shared"})}]
                ),
            },
            "PermissionsConfig": {"CapacityProviderOperatorRoleArn": Match.any_value()},
        },
    )
    _, provider = _only(assembly, "AWS::Lambda::CapacityProvider")
    subnets = json.dumps(provider["Properties"]["VpcConfig"]["SubnetIds"])
    assert subnets.count("privateSubnet") == 2
    assert "isolated" not in subnets.lower()
    # The operator role Lambda assumes carries AWS's managed policy for it.
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {
                    "Statement": [
                        Match.object_like({"Principal": {"Service": "lambda.amazonaws.com"}})
                    ]
                }
            ),
            "ManagedPolicyArns": [
                {
                    "Fn::Join": [
                        "",
                        Match.array_with([":iam::aws:policy/AWSLambdaManagedEC2ResourceOperator"]),
                    ]
                }
            ],
        },
    )


def test_api_function_runs_python_3_13_on_the_capacity_provider(assembly: Assembly) -> None:
    provider_id, _ = _only(assembly, "AWS::Lambda::CapacityProvider")
    props = _api(assembly, "LambdaMI")
    assert props["Runtime"] == "python3.13"
    assert props["MemorySize"] == 4096
    assert props["CapacityProviderConfig"] == {
        "LambdaManagedInstancesCapacityProviderConfig": {
            "CapacityProviderArn": {"Fn::GetAtt": [provider_id, "Arn"]},
            "PerExecutionEnvironmentMaxConcurrency": 6,
            "ExecutionEnvironmentMemoryGiBPerVCpu": 4,
        }
    }
    # Only the numbered version the alias serves gets environments.
    assert props["PublishToLatestPublished"] is False
    # The instances are in the VPC; the function has no VPC configuration of its own.
    assert "VpcConfig" not in props
    env = props["Environment"]["Variables"]
    assert (env["TARGET"], env["DB_IAM_AUTH"], env["DB_POOL_SIZE"]) == ("lambda", "true", "1")
    assert env["DB_MAX_OVERFLOW"] == "0"
    # Trident-Shared's one RDS Proxy.
    assert "Proxy" in env["DB_HOST"]["Fn::GetStackOutput"]["OutputName"]
    assert "{{resolve:secretsmanager:" in str(env["JWT_SIGNING_KEYS"])


def test_the_same_bundle_as_trident_lambda(assembly: Assembly) -> None:
    on_demand, managed = _api(assembly, "Lambda"), _api(assembly, "LambdaMI")
    assert managed["Code"]["S3Key"] == on_demand["Code"]["S3Key"]
    assert managed["Handler"] == on_demand["Handler"]


def test_a_published_version_behind_the_alias_live_and_the_http_api(assembly: Assembly) -> None:
    version_id, version = _only(assembly, "AWS::Lambda::Version")
    assert version["Properties"]["FunctionScalingConfig"] == {"MinExecutionEnvironments": 3}
    alias_id, alias = _only(assembly, "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    # CodeDeploy moves the alias and rolls it back, as on Trident-Lambda.
    assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]
    template = assembly.template("LambdaMI")
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Integration",
        {"IntegrationUri": {"Ref": alias_id}, "PayloadFormatVersion": "2.0"},
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {"StageName": "$default", "DefaultRouteSettings": Match.object_like({})},
    )
    template.resource_count_is("AWS::CodeDeploy::DeploymentGroup", 1)
    assert "ApiUrl" in assembly.json("LambdaMI")["Outputs"]


def test_instances_reach_the_proxy(assembly: Assembly) -> None:
    _, group = _only(assembly, "AWS::EC2::SecurityGroup")
    assert group["Properties"]["SecurityGroupEgress"][0]["CidrIp"] == "0.0.0.0/0"
    sg_id, _ = _only(assembly, "AWS::EC2::SecurityGroup")
    template = assembly.template("LambdaMI")
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {
            "FromPort": 5432,
            "ToPort": 5432,
            "SourceSecurityGroupId": {"Fn::GetAtt": [sg_id, "GroupId"]},
            "GroupId": {"Fn::GetStackOutput": Match.object_like({"StackName": "Trident-Shared"})},
        },
    )
    # rds-db:connect: test_lambda.py checks both Lambda targets' roles.


def test_no_jobs_here_and_a_dashboard_without_them(assembly: Assembly) -> None:
    assert not assembly.resources("LambdaMI", "AWS::Lambda::EventSourceMapping")
    assert not assembly.resources("LambdaMI", "AWS::Events::Rule")
    (dashboard,) = assembly.resources("LambdaMI", "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for name in ("ConcurrentExecutions", "Throttles", "ClientConnections", "p99"):
        assert name in body
    assert "jobs_succeeded" not in body


def test_knobs_resize_the_provider_and_the_function(variant: Assembly) -> None:
    template = variant.template("LambdaMI")
    template.has_resource_properties(
        "AWS::Lambda::CapacityProvider",
        {
            "InstanceRequirements": {
                "Architectures": ["arm64"],
                "AllowedInstanceTypes": ["m7g.large", "m7g.xlarge"],
            },
            "CapacityProviderScalingConfig": {"MaxVCpuCount": 24},
        },
    )
    props = _api(variant, "LambdaMI")
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == 8192
    config = props["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"]
    assert config["PerExecutionEnvironmentMaxConcurrency"] == 4
    assert config["ExecutionEnvironmentMemoryGiBPerVCpu"] == 8
    _, version = _only(variant, "AWS::Lambda::Version")
    assert version["Properties"]["FunctionScalingConfig"] == {
        "MinExecutionEnvironments": 4,
        "MaxExecutionEnvironments": 20,
    }
    # Its own domain, checked against the stack's region at deploy.
    template.has_resource_properties(
        "AWS::ApiGatewayV2::DomainName", {"DomainName": "mi.example.com"}
    )
    rules = json.dumps(variant.json("LambdaMI")["Rules"])
    assert "lambda_mi_certificate_arn is in us-east-1" in rules


def test_synth_refuses_more_processes_than_the_proxy_share() -> None:
    app = App(context={"lambda_mi_per_env_concurrency": "16"})
    with pytest.raises(SettingsError, match="Lambda Managed Instances can run 192 processes"):
        build_app(app)
    assert not app.node.children  # nothing was built
