"""AWS Lambda entry points; each wraps code from ``app`` and adds nothing but plumbing."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.config import Settings


def lambda_settings() -> Settings:
    """Settings from the environment, with TARGET defaulting to lambda (not local)."""
    from app.config import Target, load_settings

    return load_settings(**({} if "TARGET" in os.environ else {"target": Target.LAMBDA}))
