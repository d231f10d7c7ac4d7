"""Trident-LambdaMI: the API on Lambda Managed Instances, behind an HTTP API.

The same handler (``handlers.api.handler``) and the same bundle as Trident-Lambda's API
(identical when ``lambda_mi_python`` and ``lambda_mi_architecture`` match the on-demand
knobs), on a capacity provider instead of on-demand environments: each execution
environment runs ``lambda_mi_per_env_concurrency`` Python processes, each one request at a
time with its own engine (a pool of 1, as on-demand) through Trident-Shared's RDS Proxy with
IAM auth. The app runs as TARGET=lambda: nothing in it differs per process model.

Jobs stay on Trident-Lambda's on-demand jobs function (or the container workers): the queue
is shared, and an SQS consumer that scales per message has nothing to gain from instances
kept running.
https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances.html
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration
from aws_cdk import aws_lambda as lambda_

from cdk.components.bundling import lambda_code
from cdk.components.capacity import ManagedInstances
from cdk.components.dashboard import managed_instance_widgets
from cdk.components.lambda_api import AppFunction
from cdk.iam_manifest import Role
from cdk.stacks.target import TargetStack
from deployment.sizes import sized_env


class LambdaMiStack(TargetStack):
    def build(self) -> None:
        shared, settings = self.shared, self.settings
        proxy = shared.proxy
        assert proxy is not None  # Trident-Shared makes one when a Lambda target is synthesized
        architecture, python = settings.lambda_runtime("lambda-mi")

        self.capacity = ManagedInstances(
            self,
            "Capacity",
            vpc=shared.vpc,
            architecture=architecture,
            instance_types=settings.lambda_mi_instance_types,
            max_vcpus=settings.lambda_mi_max_vcpus,
            log_retention=shared.log_retention,
        )
        self.api_function = AppFunction(
            self,
            "Api",
            code=lambda_code(function="api", settings=settings, target="lambda-mi"),
            handler="handlers.api.handler",
            description="Trident API (FastAPI via Mangum) on Lambda Managed Instances",
            environment={
                **self.app_environment("lambda", db_host=proxy.endpoint),
                **sized_env(settings, "lambda-mi-api"),
                "DB_IAM_AUTH": "true",
                # Resolved by CloudFormation at deploy, as on Trident-Lambda.
                "JWT_SIGNING_KEYS": shared.jwt.secret.secret_value.unsafe_unwrap(),
            },
            # The capacity provider's instances are in the VPC; the function takes none.
            vpc=None,
            memory_mb=settings.lambda_mi_memory,
            timeout=Duration.seconds(settings.lambda_timeout_s),
            architecture=architecture,
            python_version=python,
            log_retention=shared.log_retention,
            # The live version's environments: at least the minimum, always running.
            version_options=lambda_.VersionOptions(
                min_execution_environments=settings.lambda_mi_min_environments,
                max_execution_environments=settings.lambda_mi_max_environments,
            ),
        )
        fn = self.api_function.function
        self.capacity.attach(
            fn,
            per_env_concurrency=settings.lambda_mi_per_env_concurrency,
            memory_gib_per_vcpu=settings.lambda_mi_memory_per_vcpu,
        )
        # From the instances' security group, in this stack (Trident-Shared never points here).
        proxy.allow_from(self.capacity.security_group, "Lambda Managed Instances to RDS Proxy")
        proxy.grant_connect(fn.role)
        shared.permissions.grant(Role.LAMBDA_MI_API, fn.role)
        self.api_function.alarms(self, topic=shared.alarm_topic)

        self.serve_http(
            "lambda-mi",
            self.api_function,
            compute=managed_instance_widgets(fn),
            jobs_logs=None,  # jobs run on Trident-Lambda (or the container workers)
        )
        CfnOutput(self, "CapacityProviderArn", value=self.capacity.provider.capacity_provider_arn)
