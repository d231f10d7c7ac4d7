"""Python Lambda functions of the app, the HTTP API in front of the API function, and the
SQS-driven jobs function with its housekeeping schedule."""

from __future__ import annotations

import json
from typing import Any

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.components.nag import acknowledge
from cdk.components.network import security_group

# One per deployment/bytecode.py LAMBDA_PYTHONS entry (-c lambda_python; a test checks):
# the bundle is built for the same version.
RUNTIMES = {
    "3.12": lambda_.Runtime.PYTHON_3_12,
    "3.13": lambda_.Runtime.PYTHON_3_13,
}


def runtime_reasons(python_version: str) -> dict[str, str]:
    return {
        "AwsSolutions-L1": (
            f"python{python_version} on purpose (-c lambda_python): the bundle's wheels "
            "(manylinux_2_28) and precompiled bytecode are built for exactly this runtime; "
            "a version is added to deployment/bytecode.py LAMBDA_PYTHONS after measuring it."
        ),
        **_POLICY_REASONS,
    }


_POLICY_REASONS = {
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]": (
        "AWS managed policy limited to writing the function's own logs."
    ),
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaVPCAccessExecutionRole]": (
        "AWS managed policy limited to the ENI operations a function in a VPC needs."
    ),
}


class AppFunction(Construct):
    """One Python function with its log group and alias ``live``: in the VPC's private
    subnets with a security group of its own (``security_group``), or, given no ``vpc``, on a
    capacity provider, whose instances are in the VPC instead (Lambda Managed Instances).

    Exposes ``function``, ``alias`` (what integrations and event sources invoke, so that
    published versions are what runs) and ``security_group`` (None without ``vpc``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        handler: str,
        description: str,
        vpc: ec2.IVpc | None,
        environment: dict[str, str],
        memory_mb: int,
        timeout: Duration,
        architecture: str,
        python_version: str,
        log_retention: logs.RetentionDays,
        snapstart: bool = False,
        reserved_concurrency: int | None = None,
        version_options: lambda_.VersionOptions | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group: ec2.SecurityGroup | None = None
        network: dict[str, Any] = {}
        if vpc is not None:
            self.security_group = security_group(
                self,
                "SecurityGroup",
                vpc=vpc,
                description=f"Trident {construct_id} function",
                all_outbound=True,
            )
            network = {
                "vpc": vpc,
                "vpc_subnets": ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                "security_groups": [self.security_group],
            }
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIMES[python_version],
            architecture=(
                lambda_.Architecture.ARM_64
                if architecture == "arm64"
                else lambda_.Architecture.X86_64
            ),
            code=code,
            handler=handler,
            description=description,
            memory_size=memory_mb,
            timeout=timeout,
            environment=environment,
            log_group=self.log_group,
            reserved_concurrent_executions=reserved_concurrency,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snapstart else None,
            current_version_options=version_options,
            **network,
        )
        self.alias = lambda_.Alias(
            self, "Live", alias_name="live", version=self.function.current_version
        )
        acknowledge(self, runtime_reasons(python_version))

    def alarms(self, scope: Construct, *, topic: sns.ITopic | None) -> list[cloudwatch.Alarm]:
        """Errors and throttles, each > 0 over 5 minutes."""
        made = []
        for name, metric in (
            ("Errors", self.function.metric_errors(period=Duration.minutes(5))),
            ("Throttles", self.function.metric_throttles(period=Duration.minutes(5))),
        ):
            alarm = cloudwatch.Alarm(
                scope,
                f"{self.node.id}{name}",
                alarm_description=f"{self.node.id} function {name.lower()}",
                metric=metric,
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            if topic is not None:
                alarm.add_alarm_action(cw_actions.SnsAction(topic))
            made.append(alarm)
        return made


# One JSON object per request (HTTP API $context variables).
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "time": "$context.requestTime",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "bytes": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    def __init__(self, destination: apigwv2.IAccessLogDestination) -> None:
        self._destination = destination

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS))


class HttpApiFront(Construct):
    """API Gateway HTTP API with a Lambda proxy integration on ``$default``.

    Throttling and JSON access logs on the stage; exposes ``api`` and ``url``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        target: lambda_.IFunction,
        throttle_rate: int,
        throttle_burst: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            description="Trident API (Lambda)",
            create_default_stage=False,
            default_integration=integrations.HttpLambdaIntegration(
                "Lambda",
                target,
                payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
            ),
        )
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Default",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=throttle_rate, burst_limit=throttle_burst),
            access_log_settings=_AccessLogs(apigwv2.LogGroupLogDestination(access_logs)),
        )
        self.url = self.stage.url
        acknowledge(
            self.api,
            {
                "AwsSolutions-APIG4": (
                    "The app authenticates itself (JWT bearer tokens, checked per route); "
                    "register, login and health must stay reachable without a token."
                ),
            },
        )


class JobsFunctions(Construct):
    """The SQS consumer (``handlers.jobs.handler``) and the 5-minute housekeeping run
    (``handlers.jobs.housekeeping``: sweep + dead-letter check + files cleanup)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        consumer: AppFunction,
        housekeeping: AppFunction,
        queue: sqs.IQueue,
        batch_size: int,
        batching_window_s: int,
        max_concurrency: int,
    ) -> None:
        super().__init__(scope, construct_id)
        consumer.alias.add_event_source(
            sources.SqsEventSource(
                queue,
                batch_size=batch_size,
                max_batching_window=Duration.seconds(batching_window_s)
                if batching_window_s
                else None,
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )
        self.schedule = events.Rule(
            self,
            "Housekeeping",
            description="Trident jobs housekeeping: resend stalled jobs, check the DLQ",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            targets=[targets.LambdaFunction(housekeeping.alias, retry_attempts=0)],
        )
