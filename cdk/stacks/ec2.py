"""Trident-Ec2: Gunicorn and the worker under systemd on an Auto Scaling group, behind HTTPS."""

from __future__ import annotations

from cdk.components.dashboard import alb_traffic, instance_count_widgets
from cdk.components.ec2_api import Ec2App
from cdk.iam_manifest import Role
from cdk.stacks.target import TargetStack
from deployment.sizes import sized_env


class Ec2Stack(TargetStack):
    def build(self) -> None:
        shared, settings, database = self.shared, self.settings, self.database
        self.entry = self.public_entry("ec2")
        self.app = Ec2App(
            self,
            "App",
            vpc=shared.vpc,
            listener=self.entry.listener,
            instance_type=settings.ec2_instance_type,
            min_instances=settings.ec2_min_instances,
            max_instances=settings.ec2_max_instances,
            environment=self.container_environment("ec2", self.entry),
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

        app = self.app
        self.add_dashboard(
            "ec2",
            traffic=alb_traffic(self.entry.alb, app.target_group),
            compute=instance_count_widgets(app.asg.auto_scaling_group_name, app.target_group),
            # One log group for both services on an instance; only the worker runs jobs.
            jobs_logs=app.log_group,
        )
