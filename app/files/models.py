from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class FileStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    REJECTED = "rejected"


class StoredFile(Base):
    """One upload. Status only ever moves ``pending -> ready`` or ``pending -> rejected``."""

    __tablename__ = "files"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'ready', 'rejected')", name="status"),
        CheckConstraint("size > 0", name="size_positive"),
        # A ready file always carries what was verified.
        CheckConstraint(
            "status <> 'ready' OR (sha256 IS NOT NULL AND ready_at IS NOT NULL)",
            name="ready_verified",
        ),
        Index("ix_files_user_created", "user_id", "created_at", "id"),
        # Cleanup looks only at uploads never completed and at deletions not yet finished.
        Index("ix_files_pending", "created_at", postgresql_where="status = 'pending'"),
        Index("ix_files_deleted", "deleted_at", postgresql_where="deleted_at IS NOT NULL"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Sanitised for display and Content-Disposition; never part of a key.
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    # Declared while pending; the verified size once ready.
    size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[FileStatus] = mapped_column(String(16), default=FileStatus.PENDING)
    sha256: Mapped[str | None] = mapped_column(String(64))
    rejected_reason: Mapped[str | None] = mapped_column(String(500))
    # The upload policy's expiry: an object arriving later is rejected.
    upload_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set first by DELETE, so a crash between removing objects and the row is finished later.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
