"""What every target stack shares: it builds on Trident-Shared."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.components.app_env import app_environment
from cdk.components.dashboard import TargetDashboard, Traffic, job_outcome_metrics
from cdk.components.entry import PublicEntry
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
        jobs_logs: logs.ILogGroup,
        proxy_name: str | None = None,
    ) -> None:
        """The target's dashboard, named in an output: its traffic, compute and the jobs logged
        to ``jobs_logs``, beside the shared database and queues."""
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
            jobs=job_outcome_metrics(self, jobs_logs, target),
        ).dashboard
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard_name)
