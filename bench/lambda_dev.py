"""``make lambda-dev``: the app through its Lambda handler on http://127.0.0.1:9000.

The local stack as ``make dev`` starts it (PostgreSQL, moto for S3 and SQS, the migrations,
the jobs worker), and the API bundle (build/lambda/api, from ``make lambda-bundle``) in the
local Lambda emulator. Each HTTP request becomes an API Gateway HTTP API (payload 2.0)
event and the handler's answer becomes the HTTP response, so curl and the upload page go
through Mangum, the handler's init and the bundle exactly as deployed. One request at a
time, as one execution environment serves them; a crashed function is started afresh.

``DATABASE_URL`` / ``AWS_ENDPOINT_URL`` point it at services already running (``make dev``'s).
"""

from __future__ import annotations

import base64
import os
import signal
import sys
import threading
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from bench.lambda_emulator import Emulator, EmulatorError, http_api_event
from deployment.lockfile import REPO

PORT = int(os.environ.get("LAMBDA_DEV_PORT", "9000"))
BUNDLE = REPO / "build" / "lambda" / "api"
# What the function gets from the shell, beyond what the local stack sets.
PASSED_THROUGH = ("JWT_SIGNING_KEYS", "JWT_ACTIVE_KID", "LOG_LEVEL", "CORS_ORIGINS", "S3_BUCKET")


def _say(message: str) -> None:
    sys.stdout.write(f"[lambda-dev] {message}\n")
    sys.stdout.flush()


def function_env(stack_env: dict[str, str]) -> dict[str, str]:
    """TARGET=local (docs, diagnostics, the checkout's key ring) behind the Lambda handler."""
    env = {
        "TARGET": "local",
        "METRICS_ENABLED": "false",  # Prometheus is for containers; Lambda emits EMF
        "DATA_DIR": str(Path(os.environ.get("DATA_DIR", ".data")).resolve()),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{PORT}",
    }
    for key in ("DATABASE_URL", "AWS_ENDPOINT_URL", "JOBS_QUEUE_URL", "JOBS_DLQ_URL"):
        if key in stack_env:
            env[key] = stack_env[key]
    env["AWS_ACCESS_KEY_ID"] = stack_env.get("AWS_ACCESS_KEY_ID", "testing")
    env["AWS_SECRET_ACCESS_KEY"] = stack_env.get("AWS_SECRET_ACCESS_KEY", "testing")
    env.update({key: os.environ[key] for key in PASSED_THROUGH if key in os.environ})
    return env


def write_response(request: BaseHTTPRequestHandler, payload: dict[str, Any]) -> None:
    """An HTTP API (2.0) response, as API Gateway turns it into HTTP."""
    body = payload.get("body") or ""
    raw = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
    request.send_response(int(payload.get("statusCode", 200)))
    headers = {k.lower(): v for k, v in (payload.get("headers") or {}).items()}
    headers["content-length"] = str(len(raw))
    for key, value in headers.items():
        request.send_header(key, str(value))
    for cookie in payload.get("cookies") or []:
        request.send_header("set-cookie", cookie)
    request.end_headers()
    request.wfile.write(raw)


def make_server(emulator: Emulator, port: int) -> ThreadingHTTPServer:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the function logs every request itself

        def _serve(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers: dict[str, str] = {}
            for key, value in self.headers.items():
                key = key.lower()
                headers[key] = f"{headers[key]},{value}" if key in headers else value
            event = http_api_event(
                self.command,
                url.path,
                query=url.query,
                headers=headers,
                body=body,
                source_ip=self.client_address[0],
            )
            with lock:
                try:
                    result = emulator.invoke(event)
                except EmulatorError as exc:
                    emulator.stop()  # the next request starts a fresh environment
                    result = None
                    _say(f"function failed: {exc}")
            if result is None or result.error is not None or not isinstance(result.payload, dict):
                self.send_error(502, "the function failed; see its log above")
                return
            write_response(self, result.payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


class _Stop(BaseException):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stop


def main(argv: list[str] | None = None) -> int:
    from app.local.stack import dev_stack

    if not (BUNDLE / "handlers" / "api.py").exists():
        raise SystemExit(f"{BUNDLE} is missing: run `make lambda-bundle` first")
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with ExitStack() as stack:
            # The stack as `make dev` starts it, with the worker; the API is the function.
            local = stack.enter_context(dev_stack(worker=True, say=_say))
            stack_env = {**os.environ, **local.env()}
            emulator = stack.enter_context(
                Emulator(
                    bundle=BUNDLE,
                    handler="handlers.api.handler",
                    env=function_env(stack_env),
                    inherit_output=True,
                )
            )
            init_ms = emulator.start()
            _say(f"function initialised in {init_ms:.0f} ms (cold start, emulated)")
            server = make_server(emulator, PORT)
            stack.callback(server.server_close)
            _say(f"API via Lambda  http://127.0.0.1:{PORT}  (docs /docs, health /health)")
            _say("Ctrl-C stops everything")
            server.serve_forever()
    except _Stop:
        _say("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
