"""Tokens, password hashing and login limits."""

from __future__ import annotations

import json
from typing import Annotated, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from app.concerns import Concern, SettingsError

MAX_ACCESS_TOKEN_TTL_S = 900


class AuthSettings(Concern):
    # JSON object {"kid": "secret", ...}; the active kid signs, every kid verifies.
    jwt_signing_keys: Annotated[dict[str, SecretStr] | None, NoDecode] = None
    jwt_active_kid: str | None = None
    jwt_issuer: str = "trident"
    access_token_ttl_s: int = Field(default=900, ge=30, le=MAX_ACCESS_TOKEN_TTL_S)
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, ge=300)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=60, ge=1)
    register_max_per_window: int = Field(default=10, ge=1)
    register_window_s: int = Field(default=60, ge=1)

    @field_validator("jwt_signing_keys", mode="before")
    @classmethod
    def _parse_key_ring(cls, value: object) -> object:
        if value is None:
            return None
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("must be a JSON object {kid: secret}") from None
        if not isinstance(value, dict) or not value:
            raise ValueError("must be a non-empty JSON object {kid: secret}")
        return value

    @field_validator("jwt_signing_keys")
    @classmethod
    def _long_enough(cls, keys: dict[str, SecretStr] | None) -> dict[str, SecretStr] | None:
        for kid, secret in (keys or {}).items():
            if len(secret.get_secret_value().encode()) < 32:
                raise ValueError(f"the secret for kid {kid!r} is under 32 bytes")
        return keys

    @model_validator(mode="after")
    def _active_kid_known(self) -> Self:
        keys = self.jwt_signing_keys
        if keys is not None and self.jwt_active_kid is not None and self.jwt_active_kid not in keys:
            raise SettingsError(
                f"JWT_ACTIVE_KID {self.jwt_active_kid!r} is not in JWT_SIGNING_KEYS"
            )
        return self

    def key_ring(self) -> tuple[str, dict[str, str]]:
        """(active kid, {kid: secret}); the app refuses to start without one."""
        if self.jwt_signing_keys is None:
            raise SettingsError(
                "JWT_SIGNING_KEYS is not set (a JSON object {kid: secret}; "
                "`make dev` generates one under .data/)"
            )
        keys = {kid: secret.get_secret_value() for kid, secret in self.jwt_signing_keys.items()}
        return self.jwt_active_kid or next(iter(keys)), keys
