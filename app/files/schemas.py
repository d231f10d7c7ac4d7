from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.examples import with_example
from app.files.models import FileStatus, StoredFile

_FILE_ID = "5b2f8c1e-3d4a-4e6f-8a9b-0c1d2e3f4a5b"


class FileCreate(BaseModel):
    model_config = with_example(
        {"filename": "report.pdf", "content_type": "application/pdf", "size": 48213}, extra="forbid"
    )

    filename: str = Field(min_length=1, max_length=1024, description="Shown back sanitised.")
    content_type: str = Field(min_length=1, max_length=100)
    size: int = Field(gt=0, description="Exact size in bytes; the upload may not exceed it.")


class UploadForm(BaseModel):
    url: str = Field(description="POST a multipart form here.")
    fields: dict[str, str] = Field(
        description="Send every field, in this order, then the file as the last field `file`."
    )


class FileUpload(BaseModel):
    model_config = with_example(
        {
            "file_id": _FILE_ID,
            "status": "pending",
            "upload": {
                "url": "https://trident-uploads.s3.us-east-1.amazonaws.com/",
                "fields": {
                    "Content-Type": "application/pdf",
                    "success_action_status": "201",
                    "key": f"incoming/0b7e8c0e-6a0f-4c43-9a57-1f2d3c4b5a69/{_FILE_ID}",
                    "x-amz-algorithm": "AWS4-HMAC-SHA256",
                    "x-amz-credential": "AKIA.../20261127/us-east-1/s3/aws4_request",
                    "x-amz-date": "20261127T100000Z",
                    "policy": "eyJleHBpcmF0aW9uIjog...",
                    "x-amz-signature": "9f2c...",
                },
            },
            "expires_at": "2026-11-27T10:10:00Z",
        }
    )

    file_id: uuid.UUID
    status: Literal["pending"] = "pending"
    upload: UploadForm
    expires_at: datetime = Field(description="The upload must arrive before this time.")


class FileOut(BaseModel):
    model_config = with_example(
        {
            "file_id": _FILE_ID,
            "filename": "report.pdf",
            "content_type": "application/pdf",
            "size": 48213,
            "status": "ready",
            "sha256": "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
            "created_at": "2026-11-27T10:00:00Z",
            "ready_at": "2026-11-27T10:00:02Z",
            "rejected_reason": None,
        }
    )

    file_id: uuid.UUID = Field(validation_alias="id")
    filename: str
    content_type: str
    size: int = Field(description="Declared size while pending; the verified size once ready.")
    status: FileStatus
    sha256: str | None
    created_at: datetime
    ready_at: datetime | None
    rejected_reason: str | None

    @classmethod
    def of(cls, record: StoredFile) -> FileOut:
        return cls.model_validate(record, from_attributes=True)


class Download(BaseModel):
    model_config = with_example(
        {
            "url": "https://trident-uploads.s3.us-east-1.amazonaws.com/files/...",
            "expires_at": "2026-11-27T10:05:00Z",
        }
    )

    url: str
    expires_at: datetime
