"""A local Lambda: a Runtime API server and a fresh runtime process per cold start.

No Docker here, so no Runtime Interface Emulator. Lambda's own contract is small: the
runtime (``awslambdaric``) asks ``GET /runtime/invocation/next`` for work and posts the
result back. This module serves that API and starts the bundle the way Lambda does: the
runtime's Python version, isolated (``-I``), with only the unzipped bundle, the runtime
interface client and boto3 on ``sys.path``, in a clean environment. So a dependency the
bundle forgot fails here as it would in the cloud, and init (process start to the first
``next``) and the first invoke can be timed.

    emulator = Emulator(bundle=Path("build/lambda/api"), handler="handlers.api.handler")
    with emulator:
        init_ms = emulator.start()
        result = emulator.invoke(http_api_event("GET", "/health"))
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from deployment.bytecode import BOOTSTRAP_PATH, DEFAULT_PYTHON, compile_bytecode, find_python
from deployment.lambda_bundle import pip_install
from deployment.lockfile import REPO, read_lock

API = "/2018-06-01/runtime"
RUNTIME_CACHE = REPO / "build" / "lambda-runtime"
# The runtime interface client and what it needs; boto3's stack comes from our lock, as
# the managed runtime ships a boto3 of its own.
RIC_REQUIREMENTS = ("awslambdaric==4.2.2", "simplejson==4.3.0", "snapshot-restore-py==1.0.0")
BOTO3_STACK = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
FUNCTION_NAME = "trident-local"


class EmulatorError(RuntimeError):
    """The function did not start or did not answer; the message carries its log tail."""


def runtime_requirements() -> list[str]:
    lock = read_lock()
    return [*RIC_REQUIREMENTS, *(f"{name}=={lock[name].version}" for name in BOTO3_STACK)]


def ensure_runtime(*, python_version: str = DEFAULT_PYTHON, arch: str = "x86_64") -> Path:
    """What Lambda's runtime puts beside the bundle (awslambdaric, boto3), for ``python_version``,
    installed once into build/lambda-runtime and reused while the pins stay the same."""
    requirements = runtime_requirements()
    stamp_text = "\n".join([python_version, arch, *requirements]) + "\n"
    target = RUNTIME_CACHE / f"python{python_version}-{arch}"
    stamp = target / ".requirements"
    if stamp.exists() and stamp.read_text() == stamp_text:
        return target
    RUNTIME_CACHE.mkdir(parents=True, exist_ok=True)
    with (RUNTIME_CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions may ask at once
        if stamp.exists() and stamp.read_text() == stamp_text:
            return target
        staging = Path(tempfile.mkdtemp(dir=RUNTIME_CACHE, prefix=".staging-"))
        try:
            pip_install(requirements, staging, arch=arch, python_version=python_version)
            compile_bytecode(staging, find_python(python_version))
            (staging / ".requirements").write_text(stamp_text)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


@dataclass
class Invocation:
    request_id: str
    body: bytes
    done: threading.Event = field(default_factory=threading.Event)
    delivered_at: float = 0.0
    finished_at: float = 0.0
    result: bytes | None = None
    error: dict[str, Any] | None = None

    @property
    def ms(self) -> float:
        return (self.finished_at - self.delivered_at) * 1000


class RuntimeApi:
    """Lambda's Runtime API for one function process at a time."""

    def __init__(self) -> None:
        self.pending: queue.Queue[Invocation | None] = queue.Queue()
        self.invocations: dict[str, Invocation] = {}
        self.ready = threading.Event()  # the function asked for its first event
        self.ready_at = 0.0
        self.init_error: dict[str, Any] | None = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes: with Nagle on, the body waits for
            # the client's delayed ACK (40 ms) on every reused connection.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per poll would drown everything else

            def _reply(
                self, status: int, body: bytes = b"", headers: Mapping[str, str] = {}
            ) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                if self.path == f"{API}/invocation/next":
                    api._next(self)
                elif self.path == f"{API}/restore/next":  # SnapStart: restored, go on
                    self._reply(200)
                else:
                    self._reply(404)

            def do_POST(self) -> None:
                body = self._body()
                parts = self.path.removeprefix(f"{API}/").split("/")
                if parts == ["init", "error"]:
                    api.init_error = _json_or_text(body)
                    api.ready.set()
                elif (
                    len(parts) == 3
                    and parts[0] == "invocation"
                    and parts[2] in {"response", "error"}
                ):
                    invocation = api.invocations.get(parts[1])
                    if invocation is None:
                        self._reply(400)
                        return
                    invocation.finished_at = time.perf_counter()
                    if parts[2] == "response":
                        invocation.result = body
                    else:
                        invocation.error = _json_or_text(body)
                    invocation.done.set()
                else:
                    self._reply(404)
                    return
                self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _next(self, request: BaseHTTPRequestHandler) -> None:
        if not self.ready.is_set():
            self.ready_at = time.perf_counter()
            self.ready.set()
        invocation = self.pending.get()
        if invocation is None:  # that process is gone (or we are closing): nothing to send
            return
        deadline_ms = int((time.time() + 900) * 1000)
        request.send_response(200)
        for key, value in {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": (
                f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"
            ),
            "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
            "Content-Length": str(len(invocation.body)),
        }.items():
            request.send_header(key, value)
        request.end_headers()
        invocation.delivered_at = time.perf_counter()
        request.wfile.write(invocation.body)
        request.wfile.flush()

    def reset(self) -> None:
        """Before a new process: a ``next`` the previous one left waiting must not take the
        new process's event, so it gets a queue of its own that is told to give up."""
        old, self.pending = self.pending, queue.Queue()
        old.put(None)
        self.ready.clear()
        self.ready_at = 0.0
        self.init_error = None

    def close(self) -> None:
        self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed function drops its connection mid-poll: that is how environments end.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _json_or_text(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {"errorMessage": body.decode(errors="replace")}
    return value if isinstance(value, dict) else {"errorMessage": str(value)}


@dataclass(frozen=True)
class InvokeResult:
    payload: Any
    error: dict[str, Any] | None
    ms: float


def lambda_environment(
    *, api: str, handler: str, bundle: Path, runtime: Path, python_version: str
) -> dict[str, str]:
    """The variables Lambda sets for a python runtime (no inherited shell environment)."""
    return {
        "AWS_LAMBDA_RUNTIME_API": api,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(bundle),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{python_version}",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
    }


class Emulator:
    """One function: a Runtime API, and a fresh runtime process per ``start()``."""

    def __init__(
        self,
        *,
        bundle: Path,
        handler: str,
        env: Mapping[str, str] | None = None,
        python_version: str = DEFAULT_PYTHON,
        python: Path | None = None,
        runtime: Path | None = None,
        log_dir: Path | None = None,
        inherit_output: bool = False,
    ) -> None:
        """``inherit_output``: the function writes to our stdout (``make lambda-dev``) rather
        than to a log file per process (whose tail errors then quote)."""
        self.bundle = bundle.resolve()
        self.handler = handler
        self.extra_env = dict(env or {})
        self.python_version = python_version
        self.python = python or find_python(python_version)
        self.runtime = runtime or ensure_runtime(python_version=python_version)
        self._own_log_dir = log_dir is None
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="lambda-emulator-"))
        self.inherit_output = inherit_output
        self.api = RuntimeApi()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.started_at = 0.0

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def command(self) -> list[str]:
        boot = BOOTSTRAP_PATH.format(paths=[str(self.bundle), str(self.runtime)])
        boot += "; from awslambdaric.__main__ import main; main(sys.argv)"
        return [str(self.python), "-I", "-c", boot, self.handler]

    def start(self, *, timeout_s: float = 60) -> float:
        """A cold start: a new process, timed from spawn to its first ``next`` (ms)."""
        self.stop()
        self.api.reset()
        env = lambda_environment(
            api=self.api.address,
            handler=self.handler,
            bundle=self.bundle,
            runtime=self.runtime,
            python_version=self.python_version,
        )
        env.update(self.extra_env)
        self.log_path = (
            None if self.inherit_output else self.log_dir / f"fn-{uuid.uuid4().hex[:8]}.log"
        )
        with contextlib.ExitStack() as files:
            log = None if self.log_path is None else files.enter_context(self.log_path.open("wb"))
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(  # noqa: S603  (our interpreter, our bootstrap)
                self.command(),
                env=env,
                cwd=self.bundle,
                stdout=log,
                stderr=None if log is None else subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while not self.api.ready.wait(0.01):
            if self.process.poll() is not None:
                raise EmulatorError(f"function exited during init:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise EmulatorError(f"init took over {timeout_s} s:\n{self.log_tail()}")
        if self.api.init_error is not None:
            raise EmulatorError(f"init failed: {self.api.init_error}\n{self.log_tail()}")
        return (self.api.ready_at - self.started_at) * 1000

    def invoke(self, event: Any, *, timeout_s: float = 60) -> InvokeResult:
        if self.process is None:
            self.start()
        invocation = Invocation(request_id=str(uuid.uuid4()), body=json.dumps(event).encode())
        self.api.invocations[invocation.request_id] = invocation
        self.api.pending.put(invocation)
        deadline = time.monotonic() + timeout_s
        while not invocation.done.wait(0.01):
            if self.process is not None and self.process.poll() is not None:
                raise EmulatorError(f"function exited during the invoke:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise EmulatorError(f"no answer within {timeout_s} s:\n{self.log_tail()}")
        del self.api.invocations[invocation.request_id]
        payload = json.loads(invocation.result) if invocation.result is not None else None
        return InvokeResult(payload=payload, error=invocation.error, ms=invocation.ms)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Lambda ends an environment without notice: so do we."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None

    def close(self) -> None:
        self.stop()
        self.api.close()
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)


def http_api_event(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the $default stage sends it."""
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    cookie = lowered.pop("cookie", "")
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    content_type = lowered.get("content-type", "")
    text = (
        content_type.startswith("text/") or "json" in content_type or "x-www-form" in content_type
    )
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": base64.b64encode(uuid.uuid4().bytes[:11]).decode(),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookie:
        event["cookies"] = [part.strip() for part in cookie.split(";") if part.strip()]
    if params:
        event["queryStringParameters"] = params
    if body:
        if text:
            event["body"] = body.decode()
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run `python -m bench.lambda_dev` (make lambda-dev) or `python -m bench coldstart`")
