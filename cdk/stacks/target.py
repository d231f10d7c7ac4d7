"""What every target stack shares: it builds on Trident-Shared."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.components.api_domain import ApiDomain
from cdk.components.app_env import app_environment
from cdk.components.dashboard import (
    TargetDashboard,
    Traffic,
    http_api_traffic,
    job_outcome_metrics,
)
from cdk.components.entry import PublicEntry
from cdk.components.lambda_api import AppFunction, HttpApiFront
from cdk.components.lambda_deploy import ApiDeployment
from cdk.stacks.shared import SharedStack


class TargetStack(Stack):
    """A target's stack; subclasses put their resources in ``build``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.shared = shared
        self.settings = shared.settings
        self.database = shared.database
        # Stated, not only implied by cross-stack references: Trident-Shared's migration
        # trigger finishes before any target's new code is deployed or takes traffic.
        self.add_stack_dependency(shared, "migrations run before the target's new code")
        self.build()

    def build(self) -> None:
        raise NotImplementedError

    def public_entry(self, target: str) -> PublicEntry:
        """HTTPS in front of a container target's ALB: its own domain and certificate when
        given, else CloudFront's. Its URL is the output ``Url``."""
        domain_name, certificate_arn = self.settings.custom_domain(target)
        entry = PublicEntry(
            self,
            "Entry",
            vpc=self.shared.vpc,
            domain_name=domain_name,
            certificate_arn=certificate_arn,
            target=target,
        )
        CfnOutput(self, "Url", value=entry.url, description="The API's https URL")
        return entry

    def app_environment(self, target: str, *, db_host: str) -> dict[str, str]:
        """The app's plain settings for ``target``, reaching the database at ``db_host``."""
        return app_environment(
            target=target,
            settings=self.settings,
            database=self.database,
            db_host=db_host,
            storage=self.shared.storage,
            jobs=self.shared.jobs,
        )

    def container_environment(self, target: str, entry: PublicEntry) -> dict[str, str]:
        """A container target's plain settings: the database reached directly, and as many
        trusted proxy hops as ``entry`` puts in front of the app."""
        return {
            **self.app_environment(target, db_host=self.database.endpoint),
            "TRUSTED_PROXY_HOPS": str(entry.proxy_hops),
        }

    def add_dashboard(
        self,
        target: str,
        *,
        traffic: Traffic,
        compute: Sequence[cloudwatch.IWidget],
        jobs_logs: logs.ILogGroup | None,
        proxy_name: str | None = None,
    ) -> None:
        """The target's dashboard, named in an output: its traffic, compute and the jobs logged
        to ``jobs_logs`` (None: the target runs no jobs), beside the shared database and
        queues."""
        shared = self.shared
        self.dashboard = TargetDashboard(
            self,
            "Dashboard",
            traffic=traffic,
            compute=compute,
            database_instance_id=self.database.instance.instance_identifier,
            proxy_name=proxy_name,
            queue=shared.jobs.queue,
            dlq=shared.jobs.dlq,
            jobs=[] if jobs_logs is None else job_outcome_metrics(self, jobs_logs, target),
        ).dashboard
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard_name)

    def serve_http(
        self,
        target: str,
        api: AppFunction,
        *,
        compute: Sequence[cloudwatch.IWidget],
        jobs_logs: logs.ILogGroup | None,
    ) -> None:
        """A Lambda target's front door and dashboard: the HTTP API (``http_api``) on
        ``api``'s alias ``live``, which CodeDeploy (``api_deployment``) moves to each new
        version (``lambda_deployment``) and rolls back on alarms, on the target's own domain
        when its knobs name one; outputs ``ApiUrl`` (and the DNS target). The dashboard shows
        the HTTP API's traffic, ``compute``, Trident-Shared's RDS Proxy and the jobs logged to
        ``jobs_logs``."""
        settings, shared = self.settings, self.shared
        assert shared.proxy is not None  # Trident-Shared makes one for a Lambda target
        self.http_api = HttpApiFront(
            self,
            "Http",
            target=api.alias,
            throttle_rate=settings.api_throttle_rate,
            throttle_burst=settings.api_throttle_burst,
            log_retention=shared.log_retention,
        )
        self.api_deployment = ApiDeployment(
            self,
            "ApiDeployment",
            function=api.function,
            alias=api.alias,
            deployment=settings.lambda_deployment,
            max_5xx_per_minute=settings.rollback_5xx_count,
            max_p99_ms=settings.rollback_p99_ms,
            topic=shared.alarm_topic,
        )
        url = self.http_api.url
        domain_name, certificate_arn = settings.custom_domain(target)
        if domain_name and certificate_arn:
            domain = ApiDomain(
                self,
                "ApiDomain",
                api=self.http_api.api,
                stage=self.http_api.stage,
                domain_name=domain_name,
                certificate_arn=certificate_arn,
                knob=f"{target.replace('-', '_')}_certificate_arn",
            )
            url = domain.url
            CfnOutput(
                self,
                "ApiDomainTarget",
                value=domain.dns_target,
                description=(
                    f"Point {domain_name} here (CNAME, or an alias record in hosted zone "
                    "ApiDomainHostedZoneId)"
                ),
            )
            CfnOutput(self, "ApiDomainHostedZoneId", value=domain.hosted_zone_id)
            CfnOutput(self, "ApiDefaultUrl", value=self.http_api.url)
        CfnOutput(self, "ApiUrl", value=url, description="The API's https URL")
        self.add_dashboard(
            target,
            traffic=http_api_traffic(self.http_api.api),
            compute=compute,
            jobs_logs=jobs_logs,
            proxy_name=shared.proxy.name,
        )
