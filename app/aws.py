"""boto3 clients, created on first use (``import boto3`` alone costs ~170 ms of cold start).

boto3 is blocking: async code calls it through ``call`` (a worker thread), never directly.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.config import Settings

T = TypeVar("T")

# SQS long polls for up to 20 s; the read timeout must outlast that.
LONG_POLL_S = 20


class AwsClients:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _client(self, service: str, *, read_timeout: float) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=self.settings.aws_region,
            connect_timeout=self.settings.aws_connect_timeout_s,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": self.settings.aws_max_attempts},
            signature_version="s3v4" if service == "s3" else None,
            max_pool_connections=32,
        )
        session = boto3.session.Session()
        return session.client(
            service, endpoint_url=self.settings.aws_endpoint_url or None, config=config
        )

    @cached_property
    def s3(self) -> Any:
        return self._client("s3", read_timeout=self.settings.aws_read_timeout_s)

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs", read_timeout=LONG_POLL_S + self.settings.aws_read_timeout_s)


async def call(function: Callable[..., T], /, **kwargs: Any) -> T:
    """Run one blocking boto3 call off the event loop."""
    return await run_in_threadpool(function, **kwargs)
