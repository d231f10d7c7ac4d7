"""The app as containers on Fargate: a web service behind the entry's ALB and a queue worker.

Both run the image built from ``docker/Dockerfile`` (a Docker image asset: the build context is
staged into cdk.out at synth and built by Docker only at deploy).
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

from cdk.components.bundling import REPO_ROOT
from cdk.components.entry import APP_PORT, add_web_targets, deployment_alarms
from cdk.components.nag import acknowledge

# The Docker build context: only what the Dockerfile copies (Docker ignore-file semantics).
IMAGE_CONTEXT_EXCLUDES = [
    "*",
    "!app",
    "!docker",
    "!pyproject.toml",
    "!requirements.lock",
    "!README.md",
    "docker/ec2",
    "**/__pycache__",
    "**/*.pyc",
]


def app_image(*, architecture: str) -> ecs.ContainerImage:
    return ecs.ContainerImage.from_asset(
        str(REPO_ROOT),
        file="docker/Dockerfile",
        exclude=IMAGE_CONTEXT_EXCLUDES,
        ignore_mode=IgnoreMode.DOCKER,
        platform=Platform.LINUX_ARM64 if architecture == "arm64" else Platform.LINUX_AMD64,
    )


class FargateApp(Construct):
    """Exposes ``cluster``, ``web`` and ``worker`` (FargateService) and their task roles."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        listener: elbv2.ApplicationListener,
        image: ecs.ContainerImage,
        architecture: str,
        environment: dict[str, str],
        secrets: dict[str, ecs.Secret],
        web_cpu: int,
        web_memory_mb: int,
        web_environment: dict[str, str],
        web_min_tasks: int,
        web_max_tasks: int,
        worker_cpu: int,
        worker_memory_mb: int,
        worker_environment: dict[str, str],
        worker_min_tasks: int,
        worker_max_tasks: int,
        worker_spot: bool,
        queue: sqs.IQueue,
        graceful_timeout_s: int,
        cpu_target_percent: int,
        requests_per_target: int,
        rollback_5xx_count: int,
        rollback_p99_ms: int,
        alarm_topic: sns.ITopic,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        platform = ecs.RuntimePlatform(
            cpu_architecture=ecs.CpuArchitecture.ARM64
            if architecture == "arm64"
            else ecs.CpuArchitecture.X86_64,
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
        )

        web_task = ecs.FargateTaskDefinition(
            self, "WebTask", cpu=web_cpu, memory_limit_mib=web_memory_mb, runtime_platform=platform
        )
        web_task.add_container(
            "web",
            image=image,
            environment={**environment, **web_environment},
            secrets=secrets,
            port_mappings=[ecs.PortMapping(container_port=APP_PORT)],
            logging=ecs.LogDriver.aws_logs(
                stream_prefix="web", log_group=self._log_group("WebLogs", log_retention)
            ),
            # SIGTERM, then Gunicorn's graceful timeout for in-flight requests, then SIGKILL.
            stop_timeout=Duration.seconds(min(graceful_timeout_s + 10, 120)),
        )
        self.web = self._service("Web", web_task, health_check_grace_period=Duration.seconds(60))
        self.target_group = add_web_targets(
            listener, self.web, graceful_timeout_s=graceful_timeout_s
        )
        # Beside the circuit breaker (tasks that never get healthy): tasks that are healthy
        # but answer 5xx or slowly stop the deployment and bring the previous one back.
        self.deployment_alarms = deployment_alarms(
            self,
            self.target_group,
            max_5xx_per_minute=rollback_5xx_count,
            max_p99_ms=rollback_p99_ms,
            topic=alarm_topic,
        )
        self.web.enable_deployment_alarms(
            # The names as written (the alarms' Refs would tie the service to them).
            [
                str(cast(cloudwatch.CfnAlarm, alarm.node.default_child).alarm_name)
                for alarm in self.deployment_alarms
            ],
            behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
        )
        web_scaling = self.web.auto_scale_task_count(
            min_capacity=web_min_tasks, max_capacity=web_max_tasks
        )
        web_scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=cpu_target_percent,
            scale_in_cooldown=Duration.seconds(120),
            scale_out_cooldown=Duration.seconds(60),
        )
        web_scaling.scale_on_request_count(
            "Requests",
            requests_per_target=requests_per_target,
            target_group=self.target_group,
        )

        self.worker_logs = self._log_group("WorkerLogs", log_retention)
        worker_task = ecs.FargateTaskDefinition(
            self,
            "WorkerTask",
            cpu=worker_cpu,
            memory_limit_mib=worker_memory_mb,
            runtime_platform=platform,
        )
        worker_task.add_container(
            "worker",
            image=image,
            command=["python", "-m", "app.worker"],
            environment={**environment, **worker_environment},
            secrets=secrets,
            logging=ecs.LogDriver.aws_logs(stream_prefix="worker", log_group=self.worker_logs),
            # The worker stops polling, lets running jobs finish, hands back the rest.
            stop_timeout=Duration.seconds(60),
        )
        self.worker = self._service(
            "Worker",
            worker_task,
            # Spot stops a task with two minutes' notice: the worker stops polling and hands
            # unfinished jobs back to the queue (stop_timeout above), so jobs only wait.
            capacity_providers=[
                ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)
            ]
            if worker_spot
            else None,
        )
        if worker_spot:
            # The cluster must offer FARGATE_SPOT before the service asks for it: CDK's own
            # association (enable_fargate_capacity_providers) is made at synth, with no
            # dependency, so the two could race on the first deploy.
            providers = ecs.CfnClusterCapacityProviderAssociations(
                self,
                "CapacityProviders",
                cluster=self.cluster.cluster_name,
                capacity_providers=["FARGATE", "FARGATE_SPOT"],
                default_capacity_provider_strategy=[],
            )
            self.worker.node.add_dependency(providers)
        worker_scaling = self.worker.auto_scale_task_count(
            min_capacity=worker_min_tasks, max_capacity=worker_max_tasks
        )
        worker_scaling.scale_on_metric(
            "QueueDepth",
            metric=queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            scaling_steps=[
                appscaling.ScalingInterval(upper=0, change=-1),
                appscaling.ScalingInterval(lower=20, change=+1),
                appscaling.ScalingInterval(lower=200, change=+2),
            ],
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=Duration.seconds(120),
        )
        self.web_role = web_task.task_role
        self.worker_role = worker_task.task_role
        for task in (web_task, worker_task):
            acknowledge(
                task.obtain_execution_role(),
                {
                    "AwsSolutions-IAM5[Resource::*]": (
                        "ecr:GetAuthorizationToken, which pulls the image, has no resource-level "
                        "permissions; the repository actions are scoped to CDK's asset repository."
                    )
                },
            )
            acknowledge(
                task,
                {
                    "AwsSolutions-ECS2": (
                        "Only non-secret configuration is in plain environment variables; "
                        "the database password and JWT keys come from Secrets Manager."
                    )
                },
            )

    def _service(
        self,
        construct_id: str,
        task: ecs.FargateTaskDefinition,
        *,
        health_check_grace_period: Duration | None = None,
        capacity_providers: list[ecs.CapacityProviderStrategy] | None = None,
    ) -> ecs.FargateService:
        """Private subnets; new tasks start before old ones stop; a failing deploy rolls back.
        On-demand Fargate unless ``capacity_providers`` says otherwise."""
        return ecs.FargateService(
            self,
            construct_id,
            cluster=self.cluster,
            task_definition=task,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period=health_check_grace_period,
            capacity_provider_strategies=capacity_providers,
        )

    def _log_group(self, construct_id: str, retention: logs.RetentionDays) -> logs.LogGroup:
        return logs.LogGroup(
            self, construct_id, retention=retention, removal_policy=RemovalPolicy.DESTROY
        )
