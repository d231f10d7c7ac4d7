"""Trident-Lambda: the API behind an HTTP API and the jobs consumer, through Trident-Shared's
RDS Proxy."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration

from cdk.components.bundling import lambda_code
from cdk.components.dashboard import lambda_widgets
from cdk.components.lambda_api import AppFunction, JobsFunctions
from cdk.iam_manifest import Role
from cdk.stacks.target import TargetStack
from deployment.sizes import sized_env


class LambdaStack(TargetStack):
    def build(self) -> None:
        shared, settings = self.shared, self.settings

        proxy = shared.proxy
        assert proxy is not None  # Trident-Shared makes one when a Lambda target is synthesized
        self.proxy = proxy

        environment = {
            **self.app_environment("lambda", db_host=proxy.endpoint),
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
            proxy.allow_from(fn, "to RDS Proxy")
            proxy.grant_connect(fn.role)
            app_function.alarms(self, topic=shared.alarm_topic)
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
        # The API's alias `live` moves through CodeDeploy and rolls back on its alarms. The
        # jobs alias moves at once, with the stack: the consumer must read whatever the new
        # API enqueues (a half-shifted jobs alias would hand new messages to old code), and a
        # failing job is retried by SQS and ends in the DLQ (alarmed), not in a user's 5xx.
        self.serve_http(
            "lambda",
            self.api_function,
            compute=lambda_widgets(self.api_function.function, self.api_function.log_group),
            jobs_logs=self.jobs_function.log_group,
        )
