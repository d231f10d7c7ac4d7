"""The uploads bucket (browser POSTs straight to it) and the access-log bucket."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.components.nag import acknowledge
from cdk.iam_manifest import Resource

# Key prefixes the app uses (app/files): presigned POSTs land in incoming/, verified objects
# move to files/, CSV exports go to exports/.
INCOMING = Resource.INCOMING_OBJECTS.value
EXPORTS = Resource.EXPORT_OBJECTS.value


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
    """Exposes ``bucket`` (the app's permissions on it: ``cdk/components/permissions.py``)."""

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
