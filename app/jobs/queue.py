"""The few SQS operations jobs need, each one blocking call run off the event loop."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

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


def decode_message(body: str) -> uuid.UUID | dict[str, Any]:
    """A job id ({"job_id": ...}), or another producer's JSON object for a message source to
    read; anything else is poison."""
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and "job_id" in payload:
            return uuid.UUID(payload["job_id"])
    except (ValueError, TypeError, AttributeError) as exc:
        raise PoisonMessage(f"not a job message: {body[:200]!r}") from exc
    if isinstance(payload, dict):
        return payload
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
