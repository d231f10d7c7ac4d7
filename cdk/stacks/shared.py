"""Trident-Shared: what every target needs (VPC, database, bucket, queues, secrets, migrations)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from cdk.components.app_env import app_environment
from cdk.components.bundling import lambda_code
from cdk.components.database import Database
from cdk.components.migrations import MigrationStep
from cdk.components.network import Network
from cdk.components.permissions import DutyPolicies
from cdk.components.proxy import Proxy
from cdk.components.queue import JobsQueue
from cdk.components.retention import retention
from cdk.components.secrets import JwtKeys
from cdk.components.storage import INCOMING, Storage, log_bucket
from deployment.settings import DeploySettings


class SharedStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeploySettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.log_retention = retention(settings.log_retention_days)

        self.network = Network(
            self,
            "Network",
            nat_gateways=settings.nat_gateways,
            sqs_endpoint=settings.sqs_endpoint,
            log_retention=self.log_retention,
        )
        self.vpc = self.network.vpc
        self.database = Database(
            self,
            "Database",
            vpc=self.vpc,
            postgres_version=settings.db_postgres_version,
            instance_class=settings.db_instance_class,
            allocated_storage_gb=settings.db_allocated_storage_gb,
            max_allocated_storage_gb=settings.db_max_allocated_storage_gb,
            max_connections=settings.max_connections,
            multi_az=settings.db_multi_az,
            deletion_protection=settings.db_deletion_protection,
            backup_retention_days=settings.db_backup_retention_days,
            database_name=settings.db_name,
            username=settings.db_username,
            log_retention=self.log_retention,
        )
        self.access_logs = log_bucket(self, "AccessLogs")
        self.storage = Storage(
            self,
            "Storage",
            cors_rules=settings.bucket_cors_rules(),
            access_logs=self.access_logs,
        )
        self.jobs = JobsQueue(
            self,
            "Jobs",
            max_receive_count=settings.jobs_max_receive_count,
            visibility_timeout_s=settings.jobs_visibility_timeout_s,
        )
        # Uploads become `ingest` jobs without the browser having to call /complete.
        self.storage.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.jobs.queue),
            s3.NotificationKeyFilter(prefix=INCOMING),
        )
        self.permissions = DutyPolicies(
            self,
            "AppPermissions",
            bucket=self.storage.bucket,
            jobs_queue=self.jobs.queue,
            dead_letter_queue=self.jobs.dlq,
        )
        self.jwt = JwtKeys(self, "JwtKeys")

        # A key of our own: the AWS-managed alias/aws/sns key's policy does not let CloudWatch
        # publish, so alarms on a topic encrypted with it would change state and tell no one.
        alarms_key = kms.Key(
            self,
            "AlarmsKey",
            description="Trident alarm topic: CloudWatch alarms may publish through it",
            enable_key_rotation=True,
        )
        alarms_key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.alarm_topic = sns.Topic(
            self,
            "Alarms",
            display_name="Trident alarms",
            enforce_ssl=True,
            master_key=alarms_key,
        )
        if settings.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        self.jobs.dlq_depth_alarm(self, "DlqDepth").add_alarm_action(
            cw_actions.SnsAction(self.alarm_topic)
        )

        # Both Lambda targets' pooler, here so that one share of max_connections serves both
        # (cdk/components/proxy.py); only when one of them is synthesized.
        self.proxy: Proxy | None = None
        if settings.proxy_targets:
            self.proxy = Proxy(
                self,
                "Proxy",
                vpc=self.vpc,
                database=self.database,
                max_connections_percent=settings.proxy_max_connections_percent,
                topic=self.alarm_topic,
            )
            CfnOutput(self, "ProxyEndpoint", value=self.proxy.endpoint)

        self.migrations = MigrationStep(
            self,
            "Migrations",
            vpc=self.vpc,
            database=self.database,
            code=lambda_code(function="migrate", settings=settings),
            environment={
                **app_environment(
                    target="lambda",
                    settings=settings,
                    database=self.database,
                    db_host=self.database.endpoint,
                    storage=self.storage,
                    jobs=self.jobs,
                ),
                # Resolved by CloudFormation at deploy; never in the template or cdk.out.
                "DB_PASSWORD": self.database.secret.secret_value_from_json(
                    "password"
                ).unsafe_unwrap(),
            },
            architecture=settings.lambda_architecture,
            python_version=settings.lambda_python,
            log_retention=self.log_retention,
        )

        CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "JobsQueueUrl", value=self.jobs.queue.queue_url)
        CfnOutput(self, "DatabaseEndpoint", value=self.database.endpoint)
        CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn)
