"""Same-stack floor for ``GET /v1/files/{id}``: the least a FastAPI app on our libraries does.

A fixed reference, never slowed and never dressed with the app's extras (middleware, logs,
metrics, rate limits): a bearer token verified with PyJWT (HS256, key by ``kid``, the app's
required claims and issuer), one async SQLAlchemy ORM ``session.get`` by primary key on the
same ``files`` table, the owner check, a pydantic response model, one session per request.
Served by the same Gunicorn config as the app (``bench/load/``). Its settings are pinned here
so a change to the floor shows as a change to ``floor_read ÷ hello`` in every report.

Reads ``DATABASE_URL``, ``JWT_SIGNING_KEYS`` (JSON ``{kid: key}``) and ``JWT_ISSUER``.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.floor_token import bearer_subject

POOL_SIZE = 10  # pinned: the floor's pool, whatever the app's settings are
MAX_OVERFLOW = 0


class Base(DeclarativeBase):
    pass


class StoredFile(Base):
    __tablename__ = "files"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID]
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str | None] = mapped_column(String(64))
    rejected_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    file_id: uuid.UUID = Field(validation_alias="id")
    filename: str
    content_type: str
    size: int
    status: str
    sha256: str | None
    created_at: datetime
    ready_at: datetime | None
    rejected_reason: str | None


_url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)
engine = create_async_engine(_url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)
sessions = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()


def user_id(authorization: Annotated[str, Header()] = "") -> uuid.UUID:
    return bearer_subject(authorization)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/files/{file_id}", response_model=FileOut)
async def get_file(file_id: uuid.UUID, owner: Annotated[uuid.UUID, Depends(user_id)]) -> FileOut:
    async with sessions() as session, session.begin():
        record = await session.get(StoredFile, file_id)
        if record is None or record.user_id != owner or record.deleted_at is not None:
            raise HTTPException(404, "not found")
        return FileOut.model_validate(record)
