"""Trident-Lambda: the API behind an HTTP API, the jobs consumer, and RDS Proxy."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns

from cdk.components.api_domain import ApiDomain
from cdk.components.bundling import lambda_code
from cdk.components.dashboard import http_api_traffic, lambda_widgets
from cdk.components.database import POSTGRES_PORT
from cdk.components.lambda_api import AppFunction, HttpApiFront, JobsFunctions
from cdk.components.lambda_deploy import ApiDeployment
from cdk.components.network import security_group
from cdk.iam_manifest import Role
from cdk.stacks.target import TargetStack
from deployment.sizes import sized_env


class LambdaStack(TargetStack):
    def build(self) -> None:
        shared, settings, database = self.shared, self.settings, self.database

        # Lambda's connection pooler lives with the only target that needs it.
        proxy_sg = security_group(
            self, "ProxySecurityGroup", vpc=shared.vpc, description="Trident RDS Proxy"
        )
        self.proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            proxy_target=rds.ProxyTarget.from_instance(database.reference_in(self, "Database")),
            secrets=[database.secret],
            vpc=shared.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[proxy_sg],
            iam_auth=True,
            require_tls=True,
            max_connections_percent=settings.proxy_max_connections_percent,
            max_idle_connections_percent=min(50, settings.proxy_max_connections_percent),
            # Below the app's pool recycle (1500 s for TARGET=lambda) would drop live clients.
            idle_client_timeout=Duration.minutes(30),
            borrow_timeout=Duration.seconds(30),
        )

        environment = {
            **self.app_environment("lambda", db_host=self.proxy.endpoint),
            # The API's and the jobs functions' sizes are the same (one request or one batch
            # record at a time per environment).
            **sized_env(settings, "lambda-api"),
            "DB_IAM_AUTH": "true",
            # Resolved by CloudFormation at deploy (never in the template or cdk.out): a
            # Secrets Manager call per cold start would cost ~100 ms.
            "JWT_SIGNING_KEYS": shared.jwt.secret.secret_value.unsafe_unwrap(),
        }
        common: dict[str, Any] = {
            "vpc": shared.vpc,
            "architecture": settings.lambda_architecture,
            "python_version": settings.lambda_python,
            "log_retention": shared.log_retention,
        }
        self.api_function = AppFunction(
            self,
            "Api",
            code=lambda_code(function="api", settings=settings),
            handler="handlers.api.handler",
            description="Trident API (FastAPI via Mangum)",
            environment=environment,
            memory_mb=settings.lambda_memory,
            timeout=Duration.seconds(settings.lambda_timeout_s),
            snapstart=settings.lambda_snapstart,
            reserved_concurrency=settings.lambda_reserved_concurrency,
            **common,
        )
        jobs_code = lambda_code(function="jobs", settings=settings)
        self.jobs_function = AppFunction(
            self,
            "Jobs",
            code=jobs_code,
            handler="handlers.jobs.handler",
            description="Trident jobs: SQS batch consumer",
            environment=environment,
            memory_mb=settings.jobs_lambda_memory,
            # A job must end (or extend its lease) before its message shows up again.
            timeout=Duration.seconds(settings.lambda_jobs_timeout_s),
            **common,
        )
        self.housekeeping_function = AppFunction(
            self,
            "Housekeeping",
            code=jobs_code,
            handler="handlers.jobs.housekeeping",
            description="Trident jobs: resend stalled jobs, check the DLQ, clean up files",
            environment=environment,
            memory_mb=512,
            timeout=Duration.minutes(2),
            **common,
        )
        functions = (self.api_function, self.jobs_function, self.housekeeping_function)
        for app_function in functions:
            fn = app_function.function
            # In this stack, so Trident-Shared never points at Trident-Lambda (no cycle).
            fn.connections.allow_to(self.proxy, ec2.Port.tcp(POSTGRES_PORT), "to RDS Proxy")
            self.proxy.grant_connect(fn, database.username)
            app_function.alarms(self, topic=shared.alarm_topic)
        self.pinned_sessions_alarm(topic=shared.alarm_topic)
        for role, app_function in (
            (Role.LAMBDA_API, self.api_function),
            (Role.LAMBDA_JOBS, self.jobs_function),
            (Role.LAMBDA_HOUSEKEEPING, self.housekeeping_function),
        ):
            shared.permissions.grant(role, app_function.function.role)

        JobsFunctions(
            self,
            "JobsWiring",
            consumer=self.jobs_function,
            housekeeping=self.housekeeping_function,
            queue=shared.jobs.queue,
            batch_size=settings.jobs_batch_size,
            batching_window_s=settings.jobs_batching_window_s,
            max_concurrency=settings.jobs_max_concurrency,
        )
        self.http_api = HttpApiFront(
            self,
            "Http",
            target=self.api_function.alias,
            throttle_rate=settings.api_throttle_rate,
            throttle_burst=settings.api_throttle_burst,
            log_retention=shared.log_retention,
        )
        # The API's alias `live` moves through CodeDeploy and rolls back on its alarms. The
        # jobs alias moves at once, with the stack: the consumer must read whatever the new
        # API enqueues (a half-shifted jobs alias would hand new messages to old code), and a
        # failing job is retried by SQS and ends in the DLQ (alarmed), not in a user's 5xx.
        self.api_deployment = ApiDeployment(
            self,
            "ApiDeployment",
            function=self.api_function.function,
            alias=self.api_function.alias,
            deployment=settings.lambda_deployment,
            max_5xx_per_minute=settings.rollback_5xx_count,
            max_p99_ms=settings.rollback_p99_ms,
            topic=shared.alarm_topic,
        )
        url = self.http_api.url
        if settings.lambda_domain_name and settings.lambda_certificate_arn:
            self.domain = ApiDomain(
                self,
                "ApiDomain",
                api=self.http_api.api,
                stage=self.http_api.stage,
                domain_name=settings.lambda_domain_name,
                certificate_arn=settings.lambda_certificate_arn,
            )
            url = self.domain.url
            CfnOutput(
                self,
                "ApiDomainTarget",
                value=self.domain.dns_target,
                description=(
                    f"Point {settings.lambda_domain_name} here (CNAME, or an alias record in "
                    "hosted zone ApiDomainHostedZoneId)"
                ),
            )
            CfnOutput(self, "ApiDomainHostedZoneId", value=self.domain.hosted_zone_id)
            CfnOutput(self, "ApiDefaultUrl", value=self.http_api.url)
        CfnOutput(self, "ApiUrl", value=url, description="The API's https URL")
        CfnOutput(self, "ProxyEndpoint", value=self.proxy.endpoint)
        self.add_dashboard(
            "lambda",
            traffic=http_api_traffic(self.http_api.api),
            compute=lambda_widgets(self.api_function.function, self.api_function.log_group),
            jobs_logs=self.jobs_function.log_group,
            proxy_name=self.proxy.db_proxy_name,
        )

    def pinned_sessions_alarm(self, *, topic: sns.ITopic) -> cloudwatch.Alarm:
        """Sessions RDS Proxy pinned to one database connection, 15 minutes running: the app
        sends nothing AWS documents as pinning (tests/jobs/test_proxy_pinning.py); if this
        fires anyway, deploy with proxy_statement_cache_size=0 and read the proxy's debug log."""
        alarm = cloudwatch.Alarm(
            self,
            "ProxyPinnedSessions",
            alarm_description=(
                "RDS Proxy sessions pinned: each holds a database connection for its lifetime "
                "(README, RDS Proxy pinning)"
            ),
            metric=cloudwatch.Metric(
                namespace="AWS/RDS",
                metric_name="DatabaseConnectionsCurrentlySessionPinned",
                dimensions_map={"ProxyName": self.proxy.db_proxy_name},
                statistic="Maximum",
                period=Duration.minutes(5),
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(topic))
        return alarm
