"""The app on EC2: an Auto Scaling group of Amazon Linux 2023 instances behind the entry's ALB.

Code reaches the instances without Docker: CDK uploads the repo's app source as an S3 asset
(zip), and each instance installs Python 3.12 from AL2023's packages and exactly the pins of
requirements.lock into a venv at boot, then runs Gunicorn and the worker under systemd
(docker/ec2/). Trident-Ec2 therefore deploys with no Docker anywhere. A new source asset or
setting changes the launch template, and the rolling update replaces instances one batch at a
time, each signalling CloudFormation only once the target group reports it healthy.
"""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import Aws, Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk.components.bundling import REPO_ROOT
from cdk.components.entry import add_web_targets
from cdk.components.nag import acknowledge
from cdk.components.network import security_group
from deployment.instances import instance_architecture

USER_DATA = REPO_ROOT / "docker" / "ec2" / "user-data.sh"
_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")

# The instance's source zip: the app package, the container/instance configs, the lock.
SOURCE_EXCLUDES = [
    "*",
    ".*",
    "!app",
    "!app/**",
    "!docker",
    "!docker/**",
    "!pyproject.toml",
    "!requirements.lock",
    "!README.md",
    "**/__pycache__",
    "**/*.pyc",
]


def render_user_data(template: Path, values: dict[str, str]) -> str:
    """Fill ``@@NAME@@`` placeholders; every placeholder must have a value and vice versa."""
    text = template.read_text()
    wanted = set(_PLACEHOLDER.findall(text))
    if wanted != set(values):
        raise ValueError(
            f"user data placeholders {sorted(wanted)} do not match values {sorted(values)}"
        )
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def env_lines(env: dict[str, str]) -> str:
    return "\n".join(f"{name}={value}" for name, value in sorted(env.items()))


class Ec2App(Construct):
    """Exposes ``asg`` and ``role``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        listener: elbv2.ApplicationListener,
        instance_type: str,
        min_instances: int,
        max_instances: int,
        environment: dict[str, str],
        web_environment: dict[str, str],
        worker_environment: dict[str, str],
        db_secret: secretsmanager.ISecret,
        jwt_secret: secretsmanager.ISecret,
        notifications: sns.ITopic,
        graceful_timeout_s: int,
        cpu_target_percent: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        source = s3_assets.Asset(
            self,
            "Source",
            path=str(REPO_ROOT),
            exclude=SOURCE_EXCLUDES,
            ignore_mode=IgnoreMode.GLOB,
        )
        self.log_group = log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Trident EC2 instances",
            managed_policies=[
                # Session Manager instead of SSH: no key pairs, no port 22.
                iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")
            ],
        )
        # This one object, not the whole CDK asset bucket.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    Stack.of(self).format_arn(
                        service="s3",
                        region="",
                        account="",
                        resource=source.s3_bucket_name,
                        resource_name=source.s3_object_key,
                    )
                ],
            )
        )
        db_secret.grant_read(self.role)
        jwt_secret.grant_read(self.role)
        log_group.grant_write(self.role)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:DescribeLogStreams"], resources=[log_group.log_group_arn]
            )
        )
        # The boot script waits for the load balancer's verdict before it signals (below);
        # DescribeTargetHealth has no resource-level permissions.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["elasticloadbalancing:DescribeTargetHealth"], resources=["*"]
            )
        )
        self.security_group = security_group(
            self, "SecurityGroup", vpc=vpc, description="Trident EC2 instances", all_outbound=True
        )
        user_data = ec2.UserData.custom("")
        machine = ec2.MachineImage.latest_amazon_linux2023(
            cpu_type=ec2.AmazonLinuxCpuType.ARM_64
            if instance_architecture(instance_type) == "arm64"
            else ec2.AmazonLinuxCpuType.X86_64
        )
        template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            instance_type=ec2.InstanceType(instance_type),
            machine_image=machine,
            role=self.role,
            security_group=self.security_group,
            user_data=user_data,
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            detailed_monitoring=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        20, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )
        self.asg = autoscaling.AutoScalingGroup(
            self,
            "Asg",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            launch_template=template,
            min_capacity=min_instances,
            max_capacity=max_instances,
            health_checks=autoscaling.HealthChecks.with_additional_checks(
                additional_types=[autoscaling.AdditionalHealthCheckType.ELB],
                grace_period=Duration.minutes(10),
            ),
            # Rolling replacement on change: one instance at a time, each signalling only once
            # the target group reports it healthy. A failure signal, or none within the pause
            # time, fails the update, and CloudFormation rolls the stack back (the previous
            # launch template, instances replaced again). CloudFormation cannot watch alarms
            # here: the README says why and what to do about a 5xx spike after a deploy.
            update_policy=autoscaling.UpdatePolicy.rolling_update(
                max_batch_size=1,
                min_success_percentage=100,
                # CloudFormation requires it below the group's maximum.
                min_instances_in_service=min(min_instances, max_instances - 1),
                pause_time=Duration.minutes(20),
                wait_on_resource_signals=True,
            ),
            signals=autoscaling.Signals.wait_for_min_capacity(timeout=Duration.minutes(20)),
            notifications=[autoscaling.NotificationConfiguration(topic=notifications)],
            default_instance_warmup=Duration.minutes(3),
            # Instances in service and desired, for the dashboard (group metrics are free).
            group_metrics=[autoscaling.GroupMetrics.all()],
        )
        # Before the user data: it names the target group the instance waits to be healthy in.
        self.target_group = add_web_targets(
            listener, self.asg, graceful_timeout_s=graceful_timeout_s
        )
        asg_id = Stack.of(self).get_logical_id(
            self.asg.node.default_child  # type: ignore[arg-type]
        )
        user_data.add_commands(
            render_user_data(
                USER_DATA,
                {
                    "REGION": Aws.REGION,
                    "STACK": Aws.STACK_NAME,
                    "ASG_LOGICAL_ID": asg_id,
                    "SOURCE_URL": source.s3_object_url,
                    "TARGET_GROUP_ARN": self.target_group.target_group_arn,
                    "APP_ENV": env_lines(environment),
                    "WEB_ENV": env_lines(web_environment),
                    "WORKER_ENV": env_lines(worker_environment),
                    "DB_SECRET_ARN": db_secret.secret_arn,
                    "JWT_SECRET_ARN": jwt_secret.secret_arn,
                    "LOG_GROUP": log_group.log_group_name,
                    # Gunicorn's graceful stop, then time for the master to exit.
                    "WEB_STOP_TIMEOUT_S": str(graceful_timeout_s + 15),
                },
            )
        )
        self.asg.scale_on_cpu_utilization("Cpu", target_utilization_percent=cpu_target_percent)
        acknowledge(
            self.role,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "AmazonSSMManagedInstanceCore]": (
                    "AWS's policy for Session Manager, which replaces SSH on these instances."
                ),
                "AwsSolutions-IAM5[Resource::*]": (
                    "elasticloadbalancing:DescribeTargetHealth (read only) supports no "
                    "resource-level permissions; the boot script asks it about its own target."
                ),
            },
        )
