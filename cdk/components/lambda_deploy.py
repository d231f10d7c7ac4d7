"""Gradual deploys of the API function: CodeDeploy moves the alias ``live`` to each new
version (all at once, canary or linear) and rolls it back when an alarm on that version fires.

The alarms watch what users see from the *new* version only: the app's own 5xx count and p99
latency (EMF, dimension set (service, version): the API answers errors as 5xx responses,
which Lambda does not count as ``Errors``), plus Lambda's ``Errors`` of that version and the
alias's ``Throttles``. Each alarm names the version CloudFormation just published, so it is
replaced with every deploy and starts without data (missing data is not breaching).

Order: a target stack depends on Trident-Shared, whose migration trigger runs Alembic to the
end before CloudFormation touches this stack, so the alias shifts only after the migrations
(expand-then-contract: the old version keeps working against the new schema meanwhile).
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk.components.alarms import per_minute, rollback_alarm
from cdk.components.nag import acknowledge

# What handlers/api.py writes (POWERTOOLS_METRICS_NAMESPACE and the service name; cdk never
# imports handlers: tests/cdk/test_deploy_safety.py compares them).
EMF_NAMESPACE = "Trident"
API_SERVICE = "trident-api"

DEPLOYMENT_CONFIGS = {
    "all_at_once": codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE,
    "canary10_5m": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES,
    "linear10_1m": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_1_MINUTE,
}


class ApiDeployment(Construct):
    """Exposes ``group`` (the LambdaDeploymentGroup) and ``alarms`` (its rollback alarms)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        alias: lambda_.Alias,
        deployment: str,
        max_5xx_per_minute: int,
        max_p99_ms: int,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        version = function.current_version.version
        by_version = {"service": API_SERVICE, "version": version}
        alias_dims = {
            "FunctionName": function.function_name,
            "Resource": f"{function.function_name}:{alias.alias_name}",
        }
        lambda_metric = "AWS/Lambda"
        # (id, description, metric, threshold, evaluation periods)
        watched: list[tuple[str, str, cloudwatch.Metric, float, int]] = [
            (
                "App5xx",
                "API 5xx responses from the version being deployed",
                per_minute(EMF_NAMESPACE, "errors", by_version, "Sum"),
                max_5xx_per_minute,
                1,
            ),
            # Two slow minutes of three: one slow cold start alone does not roll back.
            (
                "AppP99",
                "API p99 latency of the version being deployed",
                per_minute(EMF_NAMESPACE, "latency", by_version, "p99"),
                max_p99_ms,
                3,
            ),
            (
                "FunctionErrors",
                "Lambda errors of the version being deployed",
                per_minute(
                    lambda_metric, "Errors", {**alias_dims, "ExecutedVersion": version}, "Sum"
                ),
                0,
                1,
            ),
            # Throttled calls never reach a version: the alias's count is the signal.
            (
                "Throttles",
                "Lambda throttles on the alias live during a deploy",
                per_minute(lambda_metric, "Throttles", alias_dims, "Sum"),
                0,
                1,
            ),
        ]
        self.alarms = [
            rollback_alarm(
                self,
                alarm_id,
                description=description,
                metric=metric,
                threshold=threshold,
                topic=topic,
                evaluation_periods=periods,
            )
            for alarm_id, description, metric, threshold, periods in watched
        ]
        self.group = codedeploy.LambdaDeploymentGroup(
            self,
            "Group",
            alias=alias,
            deployment_config=DEPLOYMENT_CONFIGS[deployment],
            alarms=self.alarms,
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
        )
        acknowledge(
            self.group,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSCodeDeployRoleForLambdaLimited]": (
                    "AWS's policy for CodeDeploy on Lambda: it updates alias weights and "
                    "reads the alarms of this deployment group, nothing else."
                ),
            },
        )
