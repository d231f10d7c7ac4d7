"""The few SQS operations jobs need, each one blocking call run off the event loop."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from app.aws import AwsClients, call


def job_message(job_id: uuid.UUID) -> str:
    return json.dumps({"job_id": str(job_id)})


class PoisonMessage(ValueError):
    """A message no retry can make sense of."""


def decode_job_id(body: str) -> uuid.UUID:
    try:
        payload = json.loads(body)
        return uuid.UUID(payload["job_id"])
    except (ValueError, TypeError, KeyError) as exc:
        raise PoisonMessage(f"not a job message: {body[:200]!r}") from exc


@dataclass(frozen=True)
class ObjectCreated:
    """One S3 ``ObjectCreated:*`` record (S3 sends its notifications to the jobs queue too)."""

    bucket: str
    key: str  # decoded: S3 URL-encodes keys in events
    size: int
    event_time: datetime
    # Tells two objects written under one key apart (the sequencer; moto sends only an ETag).
    version: str


@dataclass(frozen=True)
class S3Notification:
    """An S3 event message; no records for ``s3:TestEvent`` or events we do not act on."""

    records: tuple[ObjectCreated, ...]
    test_event: bool = False


def _object_created(record: dict[str, Any]) -> ObjectCreated | None:
    if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
        "ObjectCreated:"
    ):
        return None
    s3 = record["s3"]
    obj = s3["object"]
    return ObjectCreated(
        bucket=str(s3["bucket"]["name"]),
        key=unquote_plus(str(obj["key"])),
        size=int(obj.get("size", 0)),
        event_time=datetime.fromisoformat(str(record["eventTime"]).replace("Z", "+00:00")),
        version=str(obj.get("sequencer") or obj.get("eTag") or ""),
    )


def decode_message(body: str) -> uuid.UUID | S3Notification:
    """A job id ({"job_id": ...}), or an S3 event notification; anything else is poison."""
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and "job_id" in payload:
            return uuid.UUID(payload["job_id"])
        if isinstance(payload, dict) and payload.get("Event") == "s3:TestEvent":
            return S3Notification(records=(), test_event=True)
        if isinstance(payload, dict) and isinstance(payload.get("Records"), list):
            records = (_object_created(record) for record in payload["Records"])
            return S3Notification(records=tuple(r for r in records if r is not None))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PoisonMessage(f"not a job message: {body[:200]!r}") from exc
    raise PoisonMessage(f"not a job message: {body[:200]!r}")


@dataclass(frozen=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int

    @classmethod
    def from_sqs(cls, raw: dict[str, Any]) -> Message:
        return cls(
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw["Body"],
            receive_count=int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
        )


class Queue:
    def __init__(self, aws: AwsClients, url: str) -> None:
        self.aws = aws
        self.url = url

    async def send(self, body: str) -> None:
        await call(self.aws.sqs.send_message, QueueUrl=self.url, MessageBody=body)

    async def receive(
        self, *, max_messages: int, wait_s: int, visibility_s: int | None = None
    ) -> list[Message]:
        kwargs: dict[str, Any] = {
            "QueueUrl": self.url,
            "MaxNumberOfMessages": max(1, min(10, max_messages)),
            "WaitTimeSeconds": wait_s,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if visibility_s is not None:
            kwargs["VisibilityTimeout"] = visibility_s
        response = await call(self.aws.sqs_poll.receive_message, **kwargs)
        return [Message.from_sqs(raw) for raw in response.get("Messages", [])]

    async def delete(self, receipt_handle: str) -> None:
        await call(self.aws.sqs.delete_message, QueueUrl=self.url, ReceiptHandle=receipt_handle)

    async def set_visibility(self, receipt_handle: str, seconds: int) -> None:
        await call(
            self.aws.sqs.change_message_visibility,
            QueueUrl=self.url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=seconds,
        )
