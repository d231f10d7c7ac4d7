"""A Lambda capacity provider (Lambda Managed Instances) in the VPC's private subnets.

Lambda launches and scales EC2 instances here, assuming an operator role with AWS's
``AWSLambdaManagedEC2ResourceOperator`` policy (CDK's default role for the provider):
https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-operator-role.html.
Functions on it get no VPC configuration of their own: their traffic leaves from the
instances, with this construct's security group, so that group is what RDS Proxy admits.
The provider is the security boundary between functions (containers, not microVMs): only
Trident's API runs on it.
https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-capacity-providers.html
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Annotations, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.components.nag import acknowledge
from cdk.components.network import security_group


class ManagedInstances(Construct):
    """Exposes ``provider`` and ``security_group``; ``attach`` puts a function on it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        architecture: str,
        instance_types: Sequence[str],
        max_vcpus: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = security_group(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Trident Lambda Managed Instances: the API processes",
            # The app calls S3, SQS and CloudWatch through the NAT gateway; nothing comes in.
            all_outbound=True,
        )
        # The provider's own log (scaling, instance lifecycle), kept like every other log.
        system_logs = logs.LogGroup(
            self, "SystemLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.provider = lambda_.CapacityProvider(
            self,
            "Provider",
            subnets=vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnets,
            security_groups=[self.security_group],
            architectures=[
                lambda_.Architecture.ARM_64
                if architecture == "arm64"
                else lambda_.Architecture.X86_64
            ],
            instance_type_filter=(
                lambda_.InstanceTypeFilter.allow([ec2.InstanceType(t) for t in instance_types])
                if instance_types
                else None
            ),
            max_v_cpu_count=max_vcpus,
            log_group=system_logs,
        )
        acknowledge(
            self.provider,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "AWSLambdaManagedEC2ResourceOperator]": (
                    "AWS's policy for the Lambda Managed Instances operator role: Lambda "
                    "launches and describes the provider's instances with it, its "
                    "RunInstances conditioned on ec2:ManagedResourceOperator."
                ),
            },
        )

    def attach(
        self,
        function: lambda_.Function,
        *,
        per_env_concurrency: int,
        memory_gib_per_vcpu: int,
    ) -> None:
        """Run ``function`` here. Only its numbered versions get execution environments (the
        alias ``live`` serves one): ``$LATEST.PUBLISHED``, which CloudFormation would publish
        by default, would keep environments of its own running beside them."""
        self.provider.add_function(
            function,
            per_execution_environment_max_concurrency=per_env_concurrency,
            execution_environment_memory_gib_per_v_cpu=memory_gib_per_vcpu,
            publish_to_latest_published=False,
        )
        Annotations.of(function).acknowledge_info(
            "aws-lambda:Function.CapacityProviderConfiguration",
            "Known: the API function stays on managed instances; moving it means a new function",
        )
