"""The jobs queue, leases, sweeps and the container worker."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from app.concerns import Concern, SettingsError


class JobsSettings(Concern):
    model_config = SettingsConfigDict(env_prefix="JOBS_")

    queue_url: str | None = None
    dlq_url: str | None = None
    # Must equal the queue's redrive policy: the attempt that reaches it marks the job dead.
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    # A claimed job is someone's for this long unless its worker keeps extending it.
    lease_s: int = Field(default=60, ge=5, le=43_200)
    # The queue's own VisibilityTimeout (CDK sets both): the first extension must beat it.
    visibility_timeout_s: int = Field(default=60, ge=1, le=43_200)
    # Jobs still queued (never sent) or with a lapsed lease this long are sent again.
    sweep_after_s: int = Field(default=300, ge=1)
    sweep_interval_s: float = Field(default=30.0, gt=0)
    worker_concurrency: int = Field(default=4, ge=1, le=100, validation_alias="worker_concurrency")
    # SQS long-poll wait; a stopping worker may wait this long for an open poll to return.
    worker_poll_wait_s: int = Field(default=20, ge=0, le=20, validation_alias="worker_poll_wait_s")
    worker_shutdown_grace_s: float = Field(
        default=25.0, ge=0, validation_alias="worker_shutdown_grace_s"
    )
    # Diagnostic job kinds (sleep, flaky, fail); on by default only for TARGET=local.
    diagnostic: bool = Field(default=True, validation_alias="diagnostic_jobs")

    def require_queue_url(self) -> str:
        if not self.queue_url:
            raise SettingsError("JOBS_QUEUE_URL is not set")
        return self.queue_url

    def require_dlq_url(self) -> str:
        if not self.dlq_url:
            raise SettingsError("JOBS_DLQ_URL is not set")
        return self.dlq_url
