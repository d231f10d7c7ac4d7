"""The example each boundary model shows in the OpenAPI document."""

from __future__ import annotations

from typing import Any, Unpack

from pydantic import ConfigDict


def with_example(example: dict[str, Any], **config: Unpack[ConfigDict]) -> ConfigDict:
    """``config`` plus ``example`` as the model's one example in its JSON schema."""
    return ConfigDict(json_schema_extra={"examples": [example]}, **config)
