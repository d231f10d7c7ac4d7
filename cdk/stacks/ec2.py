"""Trident-Ec2: Gunicorn and the worker under systemd on an Auto Scaling group, behind HTTPS."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk.components.app_env import app_environment
from cdk.components.ec2_api import Ec2App
from cdk.components.entry import PublicEntry
from cdk.iam_manifest import Role
from cdk.stacks.shared import SharedStack
from deployment.sizes import sized_env


class Ec2Stack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = shared.settings
        database = shared.database
        self.entry = PublicEntry(
            self,
            "Entry",
            vpc=shared.vpc,
            domain_name=settings.ec2_domain_name,
            certificate_arn=settings.ec2_certificate_arn,
            target="ec2",
        )
        self.app = Ec2App(
            self,
            "App",
            vpc=shared.vpc,
            listener=self.entry.listener,
            instance_type=settings.ec2_instance_type,
            min_instances=settings.ec2_min_instances,
            max_instances=settings.ec2_max_instances,
            environment={
                **app_environment(
                    target="ec2",
                    settings=settings,
                    database=database,
                    db_host=database.endpoint,
                    storage=shared.storage,
                    jobs=shared.jobs,
                ),
                "TRUSTED_PROXY_HOPS": str(self.entry.proxy_hops),
            },
            web_environment=sized_env(settings, "ec2-web"),
            worker_environment=sized_env(settings, "ec2-worker"),
            db_secret=database.secret,
            jwt_secret=shared.jwt.secret,
            notifications=shared.alarm_topic,
            graceful_timeout_s=settings.graceful_timeout_s,
            cpu_target_percent=settings.cpu_target_percent,
            log_retention=shared.log_retention,
        )
        database.allow_from(self.app.asg, "EC2")
        shared.permissions.grant(Role.EC2_INSTANCE, self.app.role)

        CfnOutput(self, "Url", value=self.entry.url, description="The API's https URL")
