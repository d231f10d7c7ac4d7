"""Every AWS call the app makes during the suite, checked against ``cdk/iam_manifest.py``.

botocore's event hooks on each client the app builds see each operation (presigned ones
included) and its answer; the duty comes from ``app.aws.current_duty``, set by the app's entry
points. A call the duty may not make is recorded, and the test that made it fails at teardown.
Calls made in subprocesses (gunicorn, ``make dev``) are not seen; the same code paths run
in-process elsewhere in the suite. A call with no duty fails too (a new entry point must name
its duty), unless the test is marked ``aws_internals``: it calls app internals directly.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.aws import AwsClients, current_duty
from cdk.iam_manifest import OBJECT_PREFIXES, Duty, Resource, allows

# botocore operation -> IAM action. Batch SQS calls are authorised by the single action.
S3_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
    "DeleteObjects": "s3:DeleteObject",
    "CopyObject": "s3:PutObject",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
}
SQS_ACTIONS = {
    "SendMessage": "sqs:SendMessage",
    "SendMessageBatch": "sqs:SendMessage",
    "ReceiveMessage": "sqs:ReceiveMessage",
    "DeleteMessage": "sqs:DeleteMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "GetQueueAttributes": "sqs:GetQueueAttributes",
}
OUTSIDE_ENTRY_POINTS = "made outside any entry point: mark the entry point with app.aws.performs"
# A missing key answers 404 only to a role that may list the bucket (403 otherwise).
NOT_FOUND_NEEDS_LISTING = {"HeadObject", "GetObject"}


@dataclass(frozen=True)
class Need:
    duty: str | None
    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.action} on {self.resource} (duty {self.duty or 'none'})"


@dataclass
class Guard:
    violations: list[str] = field(default_factory=list)

    def require(self, action: str, resource: str) -> None:
        duty = current_duty.get()
        need = Need(duty, action, resource)
        if duty is None:
            self.violations.append(f"{need}: {OUTSIDE_ENTRY_POINTS}")
            return
        known = str(duty) in {d.value for d in Duty} and resource in {r.value for r in Resource}
        if not known or not allows(Duty(str(duty)), action, Resource(resource)):
            self.violations.append(f"{need} is not in cdk/iam_manifest.py")

    def take_violations(self, *, outside_entry_points: bool = True) -> list[str]:
        found, self.violations = self.violations, []
        if not outside_entry_points:
            found = [v for v in found if not v.endswith(OUTSIDE_ENTRY_POINTS)]
        return found

    # botocore handlers (keyword arguments only).
    def on_parameters(
        self,
        *,
        params: dict[str, Any],
        model: Any,
        context: dict[str, Any],
        queues: Mapping[str, str],
        **_: Any,
    ) -> None:
        service = model.service_model.service_name
        operation = model.name
        if service == "s3" and operation == "CreateBucket" and context.get("is_presign_request"):
            # generate_presigned_post borrows CreateBucket's model; the key is its argument.
            self.require("s3:PutObject", object_resource(presigned_post_key()))
        elif service == "s3":
            action = S3_ACTIONS.get(operation)
            if action is None:
                self.violations.append(f"s3:{operation} has no IAM mapping in tests/iam_guard.py")
                return
            for resource in s3_resources(operation, params):
                self.require(action, resource)
            if operation == "CopyObject":
                self.require("s3:GetObject", object_resource(copy_source_key(params)))
        elif service == "sqs":
            action = SQS_ACTIONS.get(operation)
            if action is None:
                self.violations.append(f"sqs:{operation} has no IAM mapping in tests/iam_guard.py")
                return
            self.require(action, queues.get(params.get("QueueUrl", ""), "an unknown queue"))
        else:
            self.violations.append(f"{service}:{operation}: the manifest covers S3 and SQS only")

    def on_answer(self, *, http_response: Any, model: Any, **_: Any) -> None:
        if model.name in NOT_FOUND_NEEDS_LISTING and http_response.status_code == 404:
            self.require("s3:ListBucket", Resource.BUCKET)


def object_resource(key: str) -> str:
    for prefix in OBJECT_PREFIXES:
        if key.startswith(prefix):
            return prefix
    return f"key {key!r}, outside the app's prefixes"


def s3_resources(operation: str, params: dict[str, Any]) -> list[str]:
    if operation in ("ListObjectsV2", "ListObjects"):
        return [Resource.BUCKET]
    if operation == "DeleteObjects":
        return [object_resource(item["Key"]) for item in params["Delete"]["Objects"]]
    return [object_resource(params["Key"])]


def copy_source_key(params: dict[str, Any]) -> str:
    source = params["CopySource"]
    if isinstance(source, dict):
        return str(source["Key"])
    return str(source).lstrip("/").split("/", 1)[1].split("?", 1)[0]


def presigned_post_key() -> str:
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == "generate_presigned_post" and "key" in frame.f_locals:
            return str(frame.f_locals["key"])
        frame = frame.f_back  # type: ignore[assignment]
    raise AssertionError("a presigned POST without its key")


GUARD = Guard()


def install() -> Iterator[None]:
    """Hook every client ``AwsClients`` builds (a generator: the caller's fixture yields it)."""
    original = AwsClients._client

    def hooked_client(self: AwsClients, service: str, *, read_timeout: float) -> Any:
        client = original(self, service, read_timeout=read_timeout)
        settings = self.settings
        queues = {
            url: resource
            for url, resource in (
                (settings.jobs.queue_url, Resource.JOBS_QUEUE),
                (settings.jobs.dlq_url, Resource.DEAD_LETTER_QUEUE),
            )
            if url
        }
        events = client.meta.events
        events.register(
            "before-parameter-build",
            functools.partial(GUARD.on_parameters, queues=queues),
            unique_id="iam-guard-p",
        )
        events.register("after-call", GUARD.on_answer, unique_id="iam-guard-a")
        return client

    AwsClients._client = hooked_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        AwsClients._client = original  # type: ignore[method-assign]
