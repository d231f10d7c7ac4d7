"""Alembic, once per deploy, before any target's new code takes traffic.

A CDK Trigger invokes ``handlers.migrate.handler`` (Alembic ``upgrade head`` under a
PostgreSQL advisory lock) after the database exists, and again whenever the function's code
changes, i.e. whenever a migration ships. The target stacks depend on Trident-Shared, so
``cdk deploy Trident-<Target>`` runs it first. Migrations are expand-then-contract, so the old
code keeps working while they run.
"""

from __future__ import annotations

from aws_cdk import Duration, triggers
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.components.database import Database
from cdk.components.lambda_api import AppFunction

TIMEOUT = Duration.minutes(10)


class MigrationStep(Construct):
    """Exposes ``function`` (an AppFunction) and ``trigger``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        database: Database,
        code: lambda_.Code,
        environment: dict[str, str],
        architecture: str,
        python_version: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = AppFunction(
            self,
            "Migrate",
            code=code,
            handler="handlers.migrate.handler",
            description="Trident: Alembic upgrade head (run by a deploy-time trigger)",
            vpc=vpc,
            environment=environment,
            memory_mb=512,
            timeout=TIMEOUT,
            architecture=architecture,
            python_version=python_version,
            log_retention=log_retention,
        )
        database.allow_from(self.function.function, "migrations")
        # The run waits for the ingress rule it connects through, not only the database: at
        # creation the rule may otherwise land after the first connection attempt.
        ingress_rules = [
            child
            for group in database.instance.connections.security_groups
            for child in group.node.children
            if isinstance(child, ec2.CfnSecurityGroupIngress)
        ]
        self.trigger = triggers.Trigger(
            self,
            "Run",
            handler=self.function.function,
            execute_after=[database.instance, *ingress_rules],
            execute_on_handler_change=True,
            timeout=TIMEOUT,
        )
