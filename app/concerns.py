"""The base of every concern's settings (``app.config`` composes them)."""

from __future__ import annotations

import json

from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(RuntimeError):
    """Raised at startup when the environment does not describe a runnable app."""


class Concern(BaseSettings):
    """One concern's settings: each field read from its own flat environment variable, the
    field's name after ``env_prefix`` unless its ``validation_alias`` names the variable."""

    # Fields are also taken by name (load_settings passes overrides that way).
    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, validate_by_name=True
    )

    @classmethod
    def variables(cls) -> dict[str, str]:
        """{field name: its ENVIRONMENT_VARIABLE}."""
        prefix = cls.model_config.get("env_prefix", "")
        return {
            name: (
                alias if isinstance(alias := field.validation_alias, str) else prefix + name
            ).upper()
            for name, field in cls.model_fields.items()
        }


def split_list(value: object) -> object:
    """A list variable as JSON (``["a", "b"]``) or comma-separated (``a, b``)."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            return json.loads(value)
        return [item.strip() for item in value.split(",") if item.strip()]
    return value
