"""Trident-Fargate: the container image as a web service and a worker, behind HTTPS."""

from __future__ import annotations

from aws_cdk import aws_ecs as ecs

from cdk.components.container_api import FargateApp, app_image
from cdk.components.dashboard import alb_traffic, task_count_widgets
from cdk.iam_manifest import Role
from cdk.stacks.target import TargetStack
from deployment.sizes import sized_env


class FargateStack(TargetStack):
    def build(self) -> None:
        shared, settings, database = self.shared, self.settings, self.database
        self.entry = self.public_entry("fargate")
        self.app = FargateApp(
            self,
            "App",
            vpc=shared.vpc,
            listener=self.entry.listener,
            image=app_image(architecture=settings.fargate_architecture),
            architecture=settings.fargate_architecture,
            environment=self.container_environment("fargate", self.entry),
            secrets={
                "DB_PASSWORD": ecs.Secret.from_secrets_manager(database.secret, "password"),
                "JWT_SIGNING_KEYS": ecs.Secret.from_secrets_manager(shared.jwt.secret),
            },
            web_cpu=settings.fargate_cpu,
            web_memory_mb=settings.fargate_memory,
            web_environment=sized_env(settings, "fargate-web"),
            web_min_tasks=settings.fargate_min_tasks,
            web_max_tasks=settings.fargate_max_tasks,
            worker_cpu=settings.fargate_worker_cpu,
            worker_memory_mb=settings.fargate_worker_memory,
            worker_environment=sized_env(settings, "fargate-worker"),
            worker_min_tasks=settings.fargate_worker_min_tasks,
            worker_max_tasks=settings.fargate_worker_max_tasks,
            worker_spot=settings.fargate_worker_spot,
            queue=shared.jobs.queue,
            graceful_timeout_s=settings.graceful_timeout_s,
            cpu_target_percent=settings.cpu_target_percent,
            requests_per_target=settings.requests_per_target,
            rollback_5xx_count=settings.rollback_5xx_count,
            rollback_p99_ms=settings.rollback_p99_ms,
            alarm_topic=shared.alarm_topic,
            log_retention=shared.log_retention,
        )
        for service in (self.app.web, self.app.worker):
            database.allow_from(service, "Fargate")
        shared.permissions.grant(Role.FARGATE_WEB, self.app.web_role)
        shared.permissions.grant(Role.FARGATE_WORKER, self.app.worker_role)

        app = self.app
        self.add_dashboard(
            "fargate",
            traffic=alb_traffic(self.entry.alb, app.target_group),
            compute=task_count_widgets(
                app.cluster.cluster_name,
                {"Web": app.web.service_name, "Worker": app.worker.service_name},
            ),
            jobs_logs=app.worker_logs,
        )
