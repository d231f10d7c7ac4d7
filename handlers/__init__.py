"""AWS Lambda entry points; each wraps code from ``app`` and adds nothing but plumbing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from app.observability import log_fields_var, request_id_var

if TYPE_CHECKING:
    from app.config import Settings


def lambda_settings() -> Settings:
    """Settings from the environment, with TARGET defaulting to lambda (not local)."""
    from app.config import Target, load_settings

    return load_settings(**({} if "TARGET" in os.environ else {"target": Target.LAMBDA}))


# Provisioned environments are initialised ahead of traffic: none of their invocations waits.
_cold = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"


@contextmanager
def invocation(context: Any, request_id: str | None = None) -> Iterator[None]:
    """Every line logged during one invocation names it: the function, Lambda's request id,
    and whether it is the environment's first (``cold_start``). ``request_id``: the id the
    platform gave the request, which the app's middleware adopts when the client sent none."""
    global _cold
    fields = {
        "function_name": getattr(context, "function_name", None),
        "function_request_id": getattr(context, "aws_request_id", None),
        "cold_start": _cold,
    }
    _cold = False
    fields_token, request_id_token = log_fields_var.set(fields), request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(request_id_token)
        log_fields_var.reset(fields_token)
