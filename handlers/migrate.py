"""Lambda that applies the Alembic migrations once per deploy: ``handlers.migrate.handler``.

Invoke it any way CDK likes; the answer matches the caller:

- a CDK ``Trigger`` or a plain invoke: migrates and returns ``{"migrated": true, ...}``
  (an exception fails the invoke, and with it the deployment);
- a custom resource behind CDK's Provider framework (``RequestType`` in the event):
  migrates on Create and Update, does nothing on Delete, returns the physical id;
- a bare CloudFormation custom resource (``ResponseURL`` in the event): the same, and the
  outcome is PUT to the pre-signed URL (CloudFormation waits for it, even on failure).

Concurrent deployers are safe: app/migrations/env.py holds a PostgreSQL advisory lock for
the whole run, so a second one waits and then finds nothing to do.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from typing import Any

from app.observability import configure_logging
from handlers import invocation, lambda_settings

logger = logging.getLogger("app.migrate")
PHYSICAL_ID = "trident-schema"


def migrate() -> dict[str, Any]:
    """Upgrade the database DATABASE_URL (or DB_*) names to head; TLS and IAM as the app."""
    from app.db import connect_args
    from app.migrations import upgrade_head

    settings = lambda_settings()
    configure_logging(settings)
    started = time.perf_counter()
    upgrade_head(
        settings.db.require_url(),
        connect_args=connect_args(settings, statement_timeout=False),
        role_statement_timeout_ms=settings.db.statement_timeout_ms,
    )
    seconds = round(time.perf_counter() - started, 3)
    logger.info("migrations applied", extra={"seconds": seconds})
    return {"migrated": True, "seconds": seconds}


def _respond(event: dict[str, Any], status: str, reason: str, data: dict[str, Any]) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310  (CloudFormation's pre-signed https URL)
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    with invocation(context):
        return _handle(event or {})


def _handle(event: dict[str, Any]) -> dict[str, Any]:
    request_type = event.get("RequestType")
    if request_type is None:  # a Trigger, or someone invoking it by hand
        return migrate()
    try:
        data = {} if request_type == "Delete" else migrate()
    except Exception as exc:
        if "ResponseURL" not in event:
            raise  # the Provider framework reports the failure itself
        logger.exception("migrations failed")
        _respond(event, "FAILED", f"{type(exc).__name__}: {exc}", {})
        return {"PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID}
    data = {key: str(value) for key, value in data.items()}
    if "ResponseURL" in event:
        _respond(event, "SUCCESS", "ok", data)
    return {"PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID, "Data": data}
