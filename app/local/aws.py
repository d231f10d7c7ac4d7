"""moto's server standing in for S3 and SQS, with our bucket and queues created idempotently."""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class LocalAws:
    endpoint_url: str
    bucket: str
    jobs_queue_url: str
    dead_letter_queue_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_moto(port: int) -> Any:
    """moto in this process (local runs use ``app.local.stack.moto_server``, a process of its
    own): its state outlives a stop and a restart on the same port, as a service outage's
    would."""
    import logging

    from moto.server import ThreadedMotoServer

    # One werkzeug line per S3/SQS call drowns the API's own log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def _clients(endpoint_url: str, region: str) -> tuple[Any, Any]:
    import boto3

    session = boto3.session.Session(region_name=region, **LOCAL_CREDENTIALS)
    return session.client("s3", endpoint_url=endpoint_url), session.client(
        "sqs", endpoint_url=endpoint_url
    )


def configure_bucket(
    endpoint_url: str,
    *,
    region: str,
    bucket: str,
    queue_url: str,
    cors_origins: Sequence[str] = (),
    upload_events: bool = True,
) -> None:
    """What the CDK bucket has too: the upload page's CORS rules and, with ``upload_events``,
    ``ObjectCreated`` events for ``incoming/`` sent to the jobs queue (S3 then sends one
    ``s3:TestEvent`` there, which the workers acknowledge)."""
    from app.files.cors import s3_cors_configuration
    from app.files.storage import INCOMING

    s3, sqs = _clients(endpoint_url, region)
    if cors_origins:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=s3_cors_configuration(cors_origins))
    if upload_events:
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        rules = [{"Name": "prefix", "Value": INCOMING}]
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": rules}},
                    }
                ]
            },
        )


def provision(
    endpoint_url: str,
    *,
    region: str,
    bucket: str,
    queue: str,
    max_receive_count: int = 5,
    visibility_timeout_s: int = 60,
    cors_origins: Sequence[str] = (),
    upload_events: bool = True,
) -> LocalAws:
    """Create the bucket, the jobs queue and its dead-letter queue (safe to repeat), then
    ``configure_bucket``."""
    s3, sqs = _clients(endpoint_url, region)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    dlq_url = sqs.create_queue(QueueName=f"{queue}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=queue,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_s),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
            ),
        },
    )["QueueUrl"]
    configure_bucket(
        endpoint_url,
        region=region,
        bucket=bucket,
        queue_url=queue_url,
        cors_origins=cors_origins,
        upload_events=upload_events,
    )
    return LocalAws(
        endpoint_url=endpoint_url,
        bucket=bucket,
        jobs_queue_url=queue_url,
        dead_letter_queue_url=dlq_url,
    )
