from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.auth.schemas import MAX_PASSWORD_LENGTH


class AccountDelete(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"password": "correct horse battery"}]},
    )

    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
