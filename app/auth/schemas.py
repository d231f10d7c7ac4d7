from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, EmailStr, Field

from app.examples import with_example

MIN_PASSWORD_LENGTH = 10
# argon2 hashes whatever it is given; a cap keeps one request from buying minutes of CPU.
MAX_PASSWORD_LENGTH = 1024


class RegisterIn(BaseModel):
    model_config = with_example({"email": "ada@example.com", "password": "correct horse battery"})

    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)


class UserOut(BaseModel):
    model_config = with_example(
        {
            "id": "0b7e8c0e-6a0f-4c43-9a57-1f2d3c4b5a69",
            "email": "ada@example.com",
            "created_at": "2026-11-27T10:00:00Z",
        },
        from_attributes=True,
    )

    id: uuid.UUID
    email: str
    created_at: datetime


class TokenPair(BaseModel):
    model_config = with_example(
        {
            "access_token": "eyJhbGciOiJIUzI1NiIsImtpZCI6ImxvY2FsLTEifQ.e30.sig",
            "token_type": "bearer",
            "expires_in": 900,
            "refresh_token": "p0bT1p2Zk3m6Q9s8v7x4y1z0a2c5e7g9",
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (a scheme name)
    expires_in: int = Field(description="Access token lifetime in seconds.")
    refresh_token: str = Field(description="Single use; exchange at /v1/auth/refresh.")


class RefreshIn(BaseModel):
    model_config = with_example({"refresh_token": "p0bT1p2Zk3m6Q9s8v7x4y1z0a2c5e7g9"})

    refresh_token: str = Field(min_length=1, max_length=256)
