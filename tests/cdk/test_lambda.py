"""Trident-Lambda: the functions, the HTTP API, the SQS event source; and the RDS Proxy both
Lambda targets share, in Trident-Shared."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from cdk.components.lambda_api import RUNTIMES
from deployment.bytecode import DEFAULT_PYTHON, LAMBDA_PYTHONS
from tests.cdk.conftest import VARIANT_CONTEXT, Assembly


def _function(assembly: Assembly, handler: str, stack: str = "Lambda") -> tuple[str, Any]:
    (found,) = [
        (fid, fn)
        for fid, fn in assembly.resources(stack, "AWS::Lambda::Function").items()
        if fn["Properties"].get("Handler") == handler
    ]
    return found


def _proxy_id(assembly: Assembly) -> str:
    (proxy_id,) = assembly.resources("Shared", "AWS::RDS::DBProxy")
    return proxy_id


def _from_shared(logical_id: str, attribute: str | None = None) -> Any:
    """How a target stack reads a Trident-Shared value (a weak reference)."""
    name = f"Ref{logical_id}" if attribute is None else f"FnGetAtt{logical_id}{attribute}"
    return {
        "Fn::GetStackOutput": {
            "StackName": "Trident-Shared",
            "Region": {"Ref": "AWS::Region"},
            "OutputName": Match.string_like_regexp(f"^PublishOutput{name}"),
        }
    }


def test_one_proxy_for_both_lambda_targets_in_shared(assembly: Assembly) -> None:
    assert not assembly.resources("Lambda", "AWS::RDS::DBProxy")
    assert not assembly.resources("LambdaMI", "AWS::RDS::DBProxy")
    assert "ProxyEndpoint" in assembly.json("Shared")["Outputs"]


def test_proxy_requires_tls_and_iam_auth(assembly: Assembly) -> None:
    lambda_ = assembly.template("Shared")
    lambda_.has_resource_properties(
        "AWS::RDS::DBProxy",
        {
            "EngineFamily": "POSTGRESQL",
            "RequireTLS": True,
            "Auth": [Match.object_like({"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED"})],
        },
    )
    lambda_.has_resource_properties(
        "AWS::RDS::DBProxyTargetGroup",
        {"ConnectionPoolConfigurationInfo": Match.object_like({"MaxConnectionsPercent": 40})},
    )


def test_api_function_runtime_size_and_database_settings(assembly: Assembly) -> None:
    _, fn = _function(assembly, "handlers.api.handler")
    props = fn["Properties"]
    assert props["Runtime"] == f"python{DEFAULT_PYTHON}"
    assert props["Architectures"] == ["x86_64"]
    assert props["MemorySize"] == 1024
    env = props["Environment"]["Variables"]
    assembly.template("Lambda").has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "handlers.api.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {"DB_HOST": _from_shared(_proxy_id(assembly), "Endpoint")}
                )
            },
        },
    )
    assert env["DB_IAM_AUTH"] == "true"
    assert env["DB_STATEMENT_CACHE_SIZE"] == "100"  # proxy_statement_cache_size
    assert env["DB_SSLMODE"] == "require"
    assert env["DB_USER"] == "trident"
    assert env["TARGET"] == "lambda"
    assert "DB_PASSWORD" not in env
    assert "{{resolve:secretsmanager:" in str(env["JWT_SIGNING_KEYS"])
    assert props["VpcConfig"]["SubnetIds"]


def test_app_settings_match_the_queue(assembly: Assembly) -> None:
    (queue,) = [
        q
        for q in assembly.resources("Shared", "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    ]
    visibility = queue["Properties"]["VisibilityTimeout"]
    for handler in ("handlers.api.handler", "handlers.jobs.handler"):
        env = _function(assembly, handler)[1]["Properties"]["Environment"]["Variables"]
        assert env["JOBS_MAX_RECEIVE_COUNT"] == str(
            queue["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        )
        assert env["JOBS_VISIBILITY_TIMEOUT_S"] == str(visibility)
        assert int(env["JOBS_LEASE_S"]) <= visibility
    _, jobs = _function(assembly, "handlers.jobs.handler")
    assert jobs["Properties"]["Timeout"] <= visibility


def test_function_reaches_the_proxy_on_5432(assembly: Assembly) -> None:
    proxy = assembly.resources("Shared", "AWS::RDS::DBProxy")[_proxy_id(assembly)]
    (proxy_sg,) = proxy["Properties"]["VpcSecurityGroupIds"]
    proxy_sg_id = proxy_sg["Fn::GetAtt"][0]
    _, fn = _function(assembly, "handlers.api.handler")
    (function_sg,) = fn["Properties"]["VpcConfig"]["SecurityGroupIds"]
    # In this stack: Trident-Shared never points at a target.
    assembly.template("Lambda").has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {
            "IpProtocol": "tcp",
            "FromPort": 5432,
            "ToPort": 5432,
            "GroupId": _from_shared(proxy_sg_id, "GroupId"),
            "SourceSecurityGroupId": function_sg,
        },
    )


def test_proxy_reaches_the_database_in_shared(assembly: Assembly) -> None:
    proxy = assembly.resources("Shared", "AWS::RDS::DBProxy")[_proxy_id(assembly)]
    (proxy_sg,) = proxy["Properties"]["VpcSecurityGroupIds"]
    assembly.template("Shared").has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        # The port is the instance's (a GetAtt), the database's security group the target.
        {"SourceSecurityGroupId": proxy_sg, "GroupId": Match.any_value()},
    )


@pytest.mark.parametrize("stack", ["Lambda", "LambdaMI"])
def test_api_role_may_connect_as_the_db_user_through_the_proxy(
    assembly: Assembly, stack: str
) -> None:
    proxy_arn = {"Fn::GetAtt": [_proxy_id(assembly), "DBProxyArn"]}
    (policy_id,) = [
        lid
        for lid, policy in assembly.resources("Shared", "AWS::IAM::ManagedPolicy").items()
        if "rds-db:connect" in str(policy)
    ]
    assembly.template("Shared").has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "rds-db:connect",
                        "Resource": {
                            "Fn::Join": [
                                "",
                                Match.array_with(
                                    [
                                        ":dbuser:",
                                        {"Fn::Select": [6, {"Fn::Split": [":", proxy_arn]}]},
                                        "/trident",
                                    ]
                                ),
                            ]
                        },
                    }
                ],
                "Version": Match.any_value(),
            },
        },
    )
    _, fn = _function(assembly, "handlers.api.handler", stack)
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    role = assembly.resources(stack, "AWS::IAM::Role")[role_id]
    assert str(_from_shared(policy_id)["Fn::GetStackOutput"]["StackName"]) in str(role)
    assert f"PublishOutputRef{policy_id}" in str(role["Properties"]["ManagedPolicyArns"])


def test_jobs_consume_sqs_with_partial_batch_failures(assembly: Assembly) -> None:
    assembly.template("Lambda").has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 5},
        },
    )
    (mapping,) = assembly.resources("Lambda", "AWS::Lambda::EventSourceMapping").values()
    # The alias, so SnapStart's published versions are what consumes.
    assert ":live" in str(mapping["Properties"]["FunctionName"])


def test_housekeeping_runs_every_five_minutes(assembly: Assembly) -> None:
    assembly.template("Lambda").has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "Targets": [Match.object_like({"Arn": {"Ref": Match.string_like_regexp("^Housek")}})],
        },
    )
    _function(assembly, "handlers.jobs.housekeeping")


def test_http_api_throttles_logs_and_invokes_the_live_alias(assembly: Assembly) -> None:
    lambda_ = assembly.template("Lambda")
    lambda_.has_resource_properties("AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP"})
    lambda_.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {"ThrottlingBurstLimit": 400, "ThrottlingRateLimit": 200},
            "AccessLogSettings": Match.object_like(
                {"Format": Match.string_like_regexp("requestId")}
            ),
        },
    )
    lambda_.has_resource_properties(
        "AWS::ApiGatewayV2::Integration",
        {"IntegrationType": "AWS_PROXY", "PayloadFormatVersion": "2.0"},
    )
    lambda_.has_resource_properties("AWS::Lambda::Alias", {"Name": "live"})
    outputs = assembly.json("Lambda")["Outputs"]
    assert any(key.startswith("ApiUrl") for key in outputs)


def test_errors_throttles_and_pinned_proxy_sessions_alarm(assembly: Assembly) -> None:
    every = assembly.resources("Lambda", "AWS::CloudWatch::Alarm").values()
    # The deployment's rollback alarms are tested in test_deploy_safety.py.
    alarms = [a for a in every if "(rollback)" not in a["Properties"]["AlarmDescription"]]
    metrics = sorted(alarm["Properties"]["MetricName"] for alarm in alarms)
    assert metrics == [*["Errors"] * 3, *["Throttles"] * 3]
    assert all(alarm["Properties"]["AlarmActions"] for alarm in alarms)
    # The proxy's, with the proxy in Trident-Shared.
    shared = assembly.resources("Shared", "AWS::CloudWatch::Alarm").values()
    (pinned,) = (a for a in shared if a["Properties"]["Namespace"] == "AWS/RDS")
    assert pinned["Properties"]["AlarmActions"]
    (dimension,) = pinned["Properties"]["Dimensions"]
    assert dimension["Name"] == "ProxyName"
    assert dimension["Value"]["Ref"].startswith("Proxy")
    assert pinned["Properties"]["Threshold"] == 0


def test_logs_are_retained_for_a_month(assembly: Assembly) -> None:
    groups = assembly.resources("Lambda", "AWS::Logs::LogGroup").values()
    assert groups
    assert {group["Properties"]["RetentionInDays"] for group in groups} == {30}


def test_each_function_has_its_own_bundle_hash(assembly: Assembly, variant: Assembly) -> None:
    def keys(which: Assembly) -> dict[str, str]:
        return {
            fn["Properties"]["Handler"]: fn["Properties"]["Code"]["S3Key"]
            for fn in which.resources("Lambda", "AWS::Lambda::Function").values()
            if fn["Properties"].get("Handler", "").startswith("handlers.")
        }

    default, arm = keys(assembly), keys(variant)
    # api and jobs bundles differ (the function name reaches the asset hash), housekeeping
    # shares the jobs bundle, and the architecture changes every hash.
    assert default["handlers.api.handler"] != default["handlers.jobs.handler"]
    assert default["handlers.jobs.handler"] == default["handlers.jobs.housekeeping"]
    assert set(default.values()).isdisjoint(arm.values())


def test_every_function_runs_the_lambda_python_it_was_bundled_for(
    assembly: Assembly, variant: Assembly
) -> None:
    assert set(RUNTIMES) == set(LAMBDA_PYTHONS)
    for which, version in ((assembly, DEFAULT_PYTHON), (variant, VARIANT_CONTEXT["lambda_python"])):
        functions = [
            fn
            for stack in ("Shared", "Lambda")
            for fn in which.resources(stack, "AWS::Lambda::Function").values()
            if fn["Properties"].get("Handler", "").startswith("handlers.")
        ]
        assert len(functions) == 4  # api, jobs, housekeeping, migrate
        assert {fn["Properties"]["Runtime"] for fn in functions} == {f"python{version}"}


def test_context_resizes_the_functions(variant: Assembly) -> None:
    _, fn = _function(variant, "handlers.api.handler")
    props = fn["Properties"]
    assert props["MemorySize"] == 1536
    assert props["Architectures"] == ["arm64"]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["ReservedConcurrentExecutions"] == 50


def test_snapstart_caches_one_version_of_the_api_function(variant: Assembly) -> None:
    # The cost model prices SnapStart's cache for lambda_snapstart_versions=1: one published
    # version per deploy, and CloudFormation deletes the one it replaces (a retained version
    # would keep its snapshot, and its cache charge, forever).
    api_id, _ = _function(variant, "handlers.api.handler")
    versions = [
        v
        for v in variant.resources("Lambda", "AWS::Lambda::Version").values()
        if v["Properties"]["FunctionName"] == {"Ref": api_id}
    ]
    assert len(versions) == 1
    assert versions[0].get("DeletionPolicy", "Delete") == "Delete"
    assert versions[0].get("UpdateReplacePolicy", "Delete") == "Delete"


def test_jobs_queue_hides_a_batch_six_times_the_jobs_function_timeout(assembly: Assembly) -> None:
    (queue,) = [
        q
        for q in assembly.resources("Shared", "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    ]
    functions = assembly.resources("Lambda", "AWS::Lambda::Function").values()
    (jobs,) = [f for f in functions if f["Properties"]["Handler"] == "handlers.jobs.handler"]
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * jobs["Properties"]["Timeout"]
    assert jobs["Properties"]["Timeout"] == 120
