"""moto's server standing in for S3 and SQS, with our bucket and queues created idempotently."""

from __future__ import annotations

import json
import socket
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
    import logging

    from moto.server import ThreadedMotoServer

    # One werkzeug line per S3/SQS call drowns the API's own log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def provision(
    endpoint_url: str,
    *,
    region: str,
    bucket: str,
    queue: str,
    max_receive_count: int = 5,
    visibility_timeout_s: int = 60,
) -> LocalAws:
    """Create the bucket, the jobs queue and its dead-letter queue (safe to repeat)."""
    import boto3

    session = boto3.session.Session(region_name=region, **LOCAL_CREDENTIALS)
    s3 = session.client("s3", endpoint_url=endpoint_url)
    sqs = session.client("sqs", endpoint_url=endpoint_url)
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
    return LocalAws(
        endpoint_url=endpoint_url,
        bucket=bucket,
        jobs_queue_url=queue_url,
        dead_letter_queue_url=dlq_url,
    )
