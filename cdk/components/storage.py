"""The uploads bucket (browser POSTs straight to it) and the access-log bucket."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.components.nag import acknowledge

# Key prefixes the app uses (app/files): presigned POSTs land in incoming/, verified objects
# move to files/, CSV exports go to exports/.
INCOMING = "incoming/"
FILES = "files/"
EXPORTS = "exports/"
APP_PREFIXES = (INCOMING, FILES, EXPORTS)
# AbortMultipartUpload: an export that fails mid-upload abandons its parts (app/files/export.py).
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")


def log_bucket(scope: Construct, construct_id: str, *, expire_days: int = 90) -> s3.Bucket:
    """A bucket for access logs (S3 server access logs, ALB and CloudFront logs).

    ALB log delivery requires SSE-S3; CloudFront's standard logs need ACLs, hence
    BUCKET_OWNER_PREFERRED ownership.
    """
    bucket = s3.Bucket(
        scope,
        construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(expire_days))],
        removal_policy=RemovalPolicy.RETAIN,
    )
    acknowledge(
        bucket,
        {
            "AwsSolutions-S1": (
                "This is the access-log bucket; logging it into itself would loop and a "
                "second log bucket would only move the finding."
            )
        },
    )
    return bucket


class Storage(Construct):
    """Exposes ``bucket``; ``grant_app_objects`` gives object access under the app's prefixes."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cors_rules: list[dict[str, Any]],
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods(method) for method in rule["allowed_methods"]],
                    allowed_origins=rule["allowed_origins"],
                    allowed_headers=rule["allowed_headers"],
                    exposed_headers=rule["exposed_headers"],
                    max_age=rule["max_age"],
                )
                for rule in cors_rules
            ]
            or None,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-multipart",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                # Uploads never verified (abandoned, or rejected before deletion).
                s3.LifecycleRule(
                    id="expire-incoming", prefix=INCOMING, expiration=Duration.days(1)
                ),
                s3.LifecycleRule(id="expire-exports", prefix=EXPORTS, expiration=Duration.days(7)),
            ],
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="uploads-bucket/",
            removal_policy=RemovalPolicy.RETAIN,
        )

        # One customer-managed policy in this stack that every target's role attaches: the
        # wildcard findings are reviewed here once, and no target stack names this bucket's
        # ARN in a policy of its own.
        self.object_access = iam.ManagedPolicy(
            self,
            "ObjectAccess",
            description=(
                "Trident app: get/put/delete objects under incoming/, files/, exports/; "
                "list the bucket"
            ),
            statements=[
                iam.PolicyStatement(
                    actions=list(OBJECT_ACTIONS),
                    resources=[
                        self.bucket.arn_for_objects(f"{prefix}*") for prefix in APP_PREFIXES
                    ],
                ),
                # Without ListBucket S3 answers 403, not 404, for a missing key (completing a
                # file before its upload would be a 500), and the cleanup cannot list.
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]),
            ],
        )
        bucket_id = Stack.of(self).resolve(
            Stack.of(self).get_logical_id(cast(s3.CfnBucket, self.bucket.node.default_child))
        )
        acknowledge(
            self.object_access,
            {
                f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]": (
                    f"Objects under {prefix} are per user and per upload; the app chooses the "
                    "keys, and nothing outside the app's prefixes is reachable."
                )
                for prefix in APP_PREFIXES
            },
        )

    def grant_app_objects(self, role: iam.IRole | None) -> None:
        """Get/Put/Delete on the app's prefixes only (no listing, no ACLs, no other keys)."""
        assert role is not None, "functions and tasks created here always have a role"
        role.add_managed_policy(self.object_access)
