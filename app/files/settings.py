"""Uploads: what may be uploaded, how big, where it goes, and for how long a link is good."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from app.concerns import Concern, split_list

# Upload types whose content app/files/verify.py knows how to check.
SUPPORTED_FILE_TYPES = (
    "image/png",
    "image/jpeg",
    "application/pdf",
    "text/csv",
    "text/plain",
    "application/zip",
)


class FilesSettings(Concern):
    model_config = SettingsConfigDict(env_prefix="FILES_")

    bucket: str = Field(default="trident-local", validation_alias="s3_bucket")
    allowed_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(SUPPORTED_FILE_TYPES)
    )
    # At most 5 GiB: a verified upload is moved with one CopyObject call.
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1, le=5 * 1024**3)
    presign_expires_s: int = Field(default=600, ge=30, le=3600)
    presign_max_per_window: int = Field(default=60, ge=1)
    presign_window_s: int = Field(default=60, ge=1)
    download_expires_s: int = Field(default=300, ge=10, le=604_800)
    # S3 checks a POST policy's expiry when the upload starts; the event is stamped at its end.
    upload_grace_s: int = Field(default=300, ge=0, le=3600)
    # Uploads never completed are cleaned up after this long (the worker checks hourly).
    pending_max_age_s: int = Field(default=86_400, ge=60)
    cleanup_interval_s: float = Field(default=3600.0, gt=0)
    # Bucket CORS: the origins the upload page is served from (empty: make dev's own).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    _split = field_validator("allowed_types", "cors_origins", mode="before")(split_list)

    @field_validator("allowed_types")
    @classmethod
    def _supported_types(cls, value: list[str]) -> list[str]:
        types = [item.lower() for item in value]
        unknown = sorted(set(types) - set(SUPPORTED_FILE_TYPES))
        if unknown or not types:
            raise ValueError(f"must be a non-empty subset of {', '.join(SUPPORTED_FILE_TYPES)}")
        return types
