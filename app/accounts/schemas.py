from __future__ import annotations

from pydantic import BaseModel, Field

from app.auth.schemas import MAX_PASSWORD_LENGTH
from app.examples import with_example


class AccountDelete(BaseModel):
    model_config = with_example({"password": "correct horse battery"}, extra="forbid")

    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
