"""Object keys and the S3 calls files need; every key is chosen here, never by a client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.aws import AwsClients, call

INCOMING = "incoming/"
READY = "files/"
EXPORTS = "exports/"
# DeleteObjects takes at most this many keys per call.
DELETE_BATCH = 1000


def incoming_key(user_id: uuid.UUID, file_id: uuid.UUID) -> str:
    return f"{INCOMING}{user_id}/{file_id}"


def ready_key(user_id: uuid.UUID, file_id: uuid.UUID) -> str:
    return f"{READY}{user_id}/{file_id}"


def export_key(user_id: uuid.UUID, job_id: uuid.UUID) -> str:
    return f"{EXPORTS}{user_id}/{job_id}.csv"


def user_prefixes(user_id: uuid.UUID) -> tuple[str, ...]:
    """Every prefix holding a user's objects: uploads, verified files, exports."""
    return tuple(f"{prefix}{user_id}/" for prefix in (INCOMING, READY, EXPORTS))


def parse_incoming_key(key: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(user_id, file_id) of an upload key, or None for any other key."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] + "/" != INCOMING:
        return None
    try:
        user_id, file_id = uuid.UUID(parts[1]), uuid.UUID(parts[2])
    except ValueError:
        return None
    if (str(user_id), str(file_id)) != (parts[1], parts[2]):
        return None  # only the canonical spelling we hand out
    return user_id, file_id


def expiry(seconds: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)


async def presigned_get(
    aws: AwsClients, *, key: str, expires_s: int, disposition: str, content_type: str
) -> tuple[str, datetime]:
    expires_at = expiry(expires_s)
    url: str = await call(
        aws.s3.generate_presigned_url,
        ClientMethod="get_object",
        Params={
            "Bucket": aws.settings.files.bucket,
            "Key": key,
            "ResponseContentDisposition": disposition,
            "ResponseContentType": content_type,
        },
        ExpiresIn=expires_s,
    )
    return url, expires_at


def is_missing(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


def is_precondition_failed(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"412", "PreconditionFailed"}


async def head(aws: AwsClients, key: str) -> dict[str, Any] | None:
    try:
        response: dict[str, Any] = await call(
            aws.s3.head_object, Bucket=aws.settings.files.bucket, Key=key
        )
    except Exception as exc:
        if is_missing(exc):
            return None
        raise
    return response


async def delete_keys(aws: AwsClients, keys: Iterable[str]) -> None:
    """Delete objects (absent ones are fine: S3 deletes are idempotent)."""
    pending = list(keys)
    for start in range(0, len(pending), DELETE_BATCH):
        batch = pending[start : start + DELETE_BATCH]
        response = await call(
            aws.s3.delete_objects,
            Bucket=aws.settings.files.bucket,
            Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
        )
        if response.get("Errors"):
            first = response["Errors"][0]
            raise RuntimeError(f"could not delete {first.get('Key')}: {first.get('Code')}")


async def listed(aws: AwsClients, prefix: str) -> AsyncIterator[list[dict[str, Any]]]:
    """The objects under ``prefix``, one page (at most 1,000) at a time."""
    token: str | None = None
    while True:
        page = await call(
            aws.s3.list_objects_v2,
            Bucket=aws.settings.files.bucket,
            Prefix=prefix,
            **({"ContinuationToken": token} if token else {}),
        )
        yield list(page.get("Contents", []))
        token = page.get("NextContinuationToken")
        if not token:
            return


async def delete_user_objects(aws: AwsClients, user_id: uuid.UUID) -> int:
    """Delete every object of one user, whatever its record says; returns how many."""
    total = 0
    for prefix in user_prefixes(user_id):
        async for page in listed(aws, prefix):
            await delete_keys(aws, [item["Key"] for item in page])
            total += len(page)
    return total
