"""What each runtime role may do in AWS, declared once.

The app's AWS calls fall into duties (serving HTTP, running jobs, ...); each role is the union
of the duties its process performs. The CDK grants exactly this (one managed policy per duty,
in Trident-Shared), and ``tests/iam_guard.py`` checks every botocore call the app makes during
``make test`` against it, so a call the role cannot make fails a test here, not a deploy.

Pure data: no ``aws_cdk`` import, so the tests read it without loading the CDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Duty(StrEnum):
    SERVE_HTTP = "serve-http"  # request handlers: presign, head, delete, submit jobs
    RUN_JOBS = "run-jobs"  # one job or S3 notification, its lease beats included
    RECEIVE_JOBS = "receive-jobs"  # the container worker's long poll, delete and poison parking
    HOUSEKEEPING = "housekeeping"  # resend stalled jobs, mark dead-lettered jobs, file cleanup
    OPERATE = "operate"  # `python -m app.jobs redrive`, run by an operator in a container


class Resource(StrEnum):
    INCOMING_OBJECTS = "incoming/"  # browser uploads, before verification
    FILE_OBJECTS = "files/"  # verified files
    EXPORT_OBJECTS = "exports/"  # job results, multipart
    BUCKET = "bucket"  # the bucket itself (listing)
    JOBS_QUEUE = "jobs-queue"
    DEAD_LETTER_QUEUE = "dead-letter-queue"


OBJECT_PREFIXES: tuple[Resource, ...] = (
    Resource.INCOMING_OBJECTS,
    Resource.FILE_OBJECTS,
    Resource.EXPORT_OBJECTS,
)

# Without s3:ListBucket, S3 answers 403 instead of 404 for a missing key: every duty that reads
# an object that may be gone needs it. A presigned URL or POST is authorised, when used, by the
# role that signed it.
DUTY_ACTIONS: Mapping[Duty, Mapping[Resource, frozenset[str]]] = {
    Duty.SERVE_HTTP: {
        # Presigned upload, verification on completion (copy to files/), delete, download;
        # deleting an account lists and deletes everything under its prefixes, exports too.
        Resource.INCOMING_OBJECTS: frozenset({"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}),
        Resource.FILE_OBJECTS: frozenset({"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}),
        Resource.EXPORT_OBJECTS: frozenset({"s3:DeleteObject"}),
        Resource.BUCKET: frozenset({"s3:ListBucket"}),
        Resource.JOBS_QUEUE: frozenset({"sqs:SendMessage"}),
    },
    Duty.RUN_JOBS: {
        # Verification from the S3 event; an upload whose file was deleted meanwhile is removed.
        Resource.INCOMING_OBJECTS: frozenset({"s3:GetObject", "s3:DeleteObject"}),
        Resource.FILE_OBJECTS: frozenset({"s3:PutObject", "s3:DeleteObject"}),
        # Exports: multipart upload (aborted on failure), then a presigned download URL.
        Resource.EXPORT_OBJECTS: frozenset(
            {"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"}
        ),
        Resource.BUCKET: frozenset({"s3:ListBucket"}),
        # Lease beats, hiding a busy job, deleting when done, parking poison messages.
        Resource.JOBS_QUEUE: frozenset({"sqs:ChangeMessageVisibility", "sqs:DeleteMessage"}),
        Resource.DEAD_LETTER_QUEUE: frozenset({"sqs:SendMessage"}),
    },
    Duty.RECEIVE_JOBS: {
        # The long poll, and handing back what a stopping worker received but did not start.
        Resource.JOBS_QUEUE: frozenset({"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility"}),
    },
    Duty.HOUSEKEEPING: {
        # File cleanup: abandoned uploads, deleted files, old exports.
        Resource.INCOMING_OBJECTS: frozenset({"s3:DeleteObject"}),
        Resource.FILE_OBJECTS: frozenset({"s3:DeleteObject"}),
        Resource.EXPORT_OBJECTS: frozenset({"s3:DeleteObject"}),
        Resource.BUCKET: frozenset({"s3:ListBucket"}),
        # The sweep resends; the DLQ check reads without consuming.
        Resource.JOBS_QUEUE: frozenset({"sqs:SendMessage"}),
        Resource.DEAD_LETTER_QUEUE: frozenset(
            {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility"}
        ),
    },
    Duty.OPERATE: {
        Resource.JOBS_QUEUE: frozenset({"sqs:SendMessage"}),
        Resource.DEAD_LETTER_QUEUE: frozenset(
            {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}
        ),
    },
}


class Role(StrEnum):
    LAMBDA_API = "lambda-api"
    # Receiving and deleting are the SQS event source's, which CDK grants with the mapping.
    LAMBDA_JOBS = "lambda-jobs"
    LAMBDA_HOUSEKEEPING = "lambda-housekeeping"
    LAMBDA_MI_API = "lambda-mi-api"  # the same API on Lambda Managed Instances
    MIGRATION = "migration"  # the database only
    FARGATE_WEB = "fargate-web"
    FARGATE_WORKER = "fargate-worker"
    EC2_INSTANCE = "ec2-instance"  # web and worker on the same instances


_WORKER = frozenset({Duty.RUN_JOBS, Duty.RECEIVE_JOBS, Duty.HOUSEKEEPING, Duty.OPERATE})

ROLE_DUTIES: Mapping[Role, frozenset[Duty]] = {
    Role.LAMBDA_API: frozenset({Duty.SERVE_HTTP}),
    Role.LAMBDA_JOBS: frozenset({Duty.RUN_JOBS}),
    Role.LAMBDA_HOUSEKEEPING: frozenset({Duty.HOUSEKEEPING}),
    Role.LAMBDA_MI_API: frozenset({Duty.SERVE_HTTP}),
    Role.MIGRATION: frozenset(),
    Role.FARGATE_WEB: frozenset({Duty.SERVE_HTTP}),
    Role.FARGATE_WORKER: _WORKER,
    Role.EC2_INSTANCE: _WORKER | {Duty.SERVE_HTTP},
}


def allows(duty: Duty, action: str, resource: Resource) -> bool:
    return action in DUTY_ACTIONS[duty].get(resource, frozenset())
