"""RDS Proxy in front of PostgreSQL: the one connection pooler of both Lambda targets.

One proxy, in Trident-Shared, rather than one per Lambda stack: its share of
``max_connections`` (``proxy_max_connections_percent``) is what the connection budget counts
once, and the Managed Instances target's processes must fit in it
(``deployment/lambda_mi.py``). A second proxy at the same share would not fit a db.t4g.small
beside the container targets (175 of 180 connections at the defaults with one).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk.components.database import POSTGRES_PORT, Database
from cdk.components.network import security_group


class Proxy(Construct):
    """Exposes ``proxy`` (IAM auth and TLS required), ``endpoint`` and ``name``; functions in
    other stacks call ``allow_from`` and ``grant_connect`` from their own side."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        database: Database,
        max_connections_percent: int,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.database = database
        proxy_sg = security_group(self, "SecurityGroup", vpc=vpc, description="Trident RDS Proxy")
        self.proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            proxy_target=rds.ProxyTarget.from_instance(database.instance),
            secrets=[database.secret],
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[proxy_sg],
            iam_auth=True,
            require_tls=True,
            max_connections_percent=max_connections_percent,
            max_idle_connections_percent=min(50, max_connections_percent),
            # Below the app's pool recycle (1500 s for TARGET=lambda) would drop live clients.
            idle_client_timeout=Duration.minutes(30),
            borrow_timeout=Duration.seconds(30),
        )
        self.endpoint = self.proxy.endpoint
        self.name = self.proxy.db_proxy_name
        # What DatabaseProxy.grant_connect writes, but as a managed policy here: the proxy's
        # id is split out of its ARN in this stack, not from another stack's reference to it
        # (cfn-lint cannot type Fn::Split over Fn::GetStackOutput).
        self.connect_policy = iam.ManagedPolicy(
            self,
            "ConnectPolicy",
            description="Connect through the Trident RDS Proxy as the app database user (IAM auth)",
            statements=[
                iam.PolicyStatement(
                    actions=["rds-db:connect"],
                    resources=[
                        Stack.of(self).format_arn(
                            service="rds-db",
                            resource="dbuser",
                            resource_name=(
                                f"{Fn.select(6, Fn.split(':', self.proxy.db_proxy_arn))}"
                                f"/{database.username}"
                            ),
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                )
            ],
        )
        self.pinned_sessions_alarm(topic)

    def allow_from(self, peer: ec2.IConnectable, description: str) -> None:
        """Let ``peer`` reach the proxy; called on the peer's side so that, for a peer in a
        target stack, the rules land there (Trident-Shared never references a target)."""
        peer.connections.allow_to(self.proxy, ec2.Port.tcp(POSTGRES_PORT), description)

    def grant_connect(self, role: iam.IRole | None) -> None:
        """Let ``role`` connect as the app's database user (attached from the role's side)."""
        assert role is not None  # a Function made here always has one
        role.add_managed_policy(self.connect_policy)

    def pinned_sessions_alarm(self, topic: sns.ITopic) -> cloudwatch.Alarm:
        """Sessions RDS Proxy pinned to one database connection, 15 minutes running: the app
        sends nothing AWS documents as pinning (tests/jobs/test_proxy_pinning.py); if this
        fires anyway, deploy with proxy_statement_cache_size=0 and read the proxy's debug log."""
        alarm = cloudwatch.Alarm(
            self,
            "PinnedSessions",
            alarm_description=(
                "RDS Proxy sessions pinned: each holds a database connection for its lifetime "
                "(README, RDS Proxy pinning)"
            ),
            metric=cloudwatch.Metric(
                namespace="AWS/RDS",
                metric_name="DatabaseConnectionsCurrentlySessionPinned",
                dimensions_map={"ProxyName": self.name},
                statistic="Maximum",
                period=Duration.minutes(5),
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(topic))
        return alarm
