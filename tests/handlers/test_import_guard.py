"""Import-time discipline of handlers.api, checked in a fresh interpreter (the Lambda init)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, TEST_KEYS

# Never imported before first use: each is tens to hundreds of ms of cold start.
FORBIDDEN = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "aws_xray_sdk",
    "opentelemetry.sdk",
    "sqlalchemy",
    "asyncpg",
    "jwt",
    "argon2",
    "email_validator",
    "prometheus_client",
    "alembic",
    "app.db",
)

SCRIPT = """
import json, sys
import handlers.api as api
loaded = sorted(m for m in sys.modules if m in {forbidden!r} or any(
    m.startswith(f + ".") for f in {forbidden!r}))
env = api._environment
after_init = {{"loaded": loaded, "engine": env is not None and env.resources.has_db}}

class Context:
    function_name = "guard"; memory_limit_in_mb = 128; aws_request_id = "guard"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:guard"

response = api.handler(json.loads({event!r}), Context())
after_health = sorted(m for m in sys.modules if m in {forbidden!r})
print(json.dumps({{"init": after_init, "status": response["statusCode"], "health": after_health}}))
"""


def test_importing_the_handler_loads_nothing_heavy() -> None:
    from tests.handlers.conftest import load_event

    script = SCRIPT.format(forbidden=FORBIDDEN, event=json.dumps(load_event("apigw_http_v2")))
    env = {
        "PATH": "/usr/bin:/bin",
        "TARGET": "lambda",
        "DATABASE_URL": "postgresql://guard@127.0.0.1:1/guard",
        "JWT_SIGNING_KEYS": json.dumps(TEST_KEYS),
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9",  # the import is the init phase, as on Lambda
        "AWS_LAMBDA_FUNCTION_NAME": "guard",
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["init"] == {"loaded": [], "engine": False}
    assert report["status"] == 200
    # Serving /health loads nothing more either.
    assert report["health"] == []
