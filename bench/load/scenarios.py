"""What the load bench measures, in order: the apps (the full app, the FastAPI hello world,
the same-stack floor), the endpoints of each, the user and rows they read, and the two runs
over them (container cold start, warm load)."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.load.measure import SessionCounter, measure
from bench.load.results import Scenario, spread, with_ratios
from bench.load.servers import Gunicorn, Pinning
from bench.load.stack import Stack
from bench.load.wire import Target, fetch, http_request, response_json

HELLO_MODULE = "bench_hello"
FLOOR_MODULE = "bench.floor_read"
HELLO_SOURCE = '''"""Minimal FastAPI app: the floor a FastAPI container cannot go below."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
'''
PASSWORD = "bench-password-not-a-secret"  # noqa: S105  (a throwaway local user)
PRESIGN_BODY = json.dumps(
    {"filename": "bench.txt", "content_type": "text/plain", "size": 1024}
).encode()
ENQUEUE_BODY = json.dumps({"kind": "export", "input": {}}).encode()
Step = Callable[[str], None]


def no_step(_: str) -> None:
    pass


def write_hello(workdir: Path) -> None:
    """The hello world's module where Gunicorn's ``--pythonpath`` finds it."""
    (workdir / f"{HELLO_MODULE}.py").write_text(HELLO_SOURCE)


def app_targets(stack: Stack) -> list[Target]:
    """The app's endpoints under load, as the user, file and job made on ``stack``."""
    auth = stack.auth()
    posting = {**auth, "Content-Type": "application/json"}
    return [
        Target("health", "GET", "/health", 200, {}),
        Target("read", "GET", f"/v1/files/{stack.file_id}", 200, auth),
        Target("job_read", "GET", f"/v1/jobs/{stack.job_id}", 200, auth),
        Target("presign", "POST", "/v1/files", 201, posting, PRESIGN_BODY),
        Target("enqueue", "POST", "/v1/jobs", 202, posting, ENQUEUE_BODY),
    ]


def prepare_user(port: int) -> tuple[str, str]:
    """Register and log in a user, start one upload: (access token, file id)."""
    email = f"bench-{os.urandom(4).hex()}@example.com"
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    json_headers = {"Content-Type": "application/json"}
    status, _ = fetch(
        port, http_request("POST", "/v1/auth/register", headers=json_headers, body=body)
    )
    if status != 201:
        raise RuntimeError(f"register: {status}")
    form = f"username={email.replace('@', '%40')}&password={PASSWORD}".encode()
    status, response = fetch(
        port,
        http_request(
            "POST",
            "/v1/auth/token",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=form,
        ),
    )
    if status != 200:
        raise RuntimeError(f"login: {status}")
    token: str = response_json(response)["access_token"]
    status, response = fetch(
        port,
        http_request(
            "POST",
            "/v1/files",
            headers={**json_headers, "Authorization": f"Bearer {token}"},
            body=PRESIGN_BODY,
        ),
    )
    if status != 201:
        raise RuntimeError(f"presign: {status}")
    return token, str(response_json(response)["file_id"])


def prepare_job(port: int, token: str) -> str:
    """Enqueue one job to read back (nothing runs it: it stays queued)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    status, response = fetch(
        port, http_request("POST", "/v1/jobs", headers=headers, body=ENQUEUE_BODY)
    )
    if status != 202:
        raise RuntimeError(f"enqueue: {status}")
    return str(response_json(response)["job_id"])


def container_coldstart(
    stack: Stack, *, runs: int, pinning: Pinning, step: Step = no_step
) -> dict[str, Any]:
    """Spawn to the first 200 on /health, full app and hello world taking turns; then spawn
    until every worker has answered an authenticated ``GET /v1/files/{id}``, the app and its
    same-stack floor (``bench/floor_read.py``) taking turns."""
    servers = {
        "app": (None, stack.server_env()),
        "baseline": (f"{HELLO_MODULE}:app", {"LOG_LEVEL": "INFO"}),
        "app_read": (None, stack.server_env()),
        "floor_read": (f"{FLOOR_MODULE}:app", stack.server_env()),
    }
    samples: dict[str, list[float]] = {name: [] for name in servers}
    for run in range(runs):
        for name, (app, env) in servers.items():
            server = Gunicorn(app=app, env=env, pinning=pinning, workdir=stack.workdir)
            try:
                if name.endswith("_read"):
                    read = http_request("GET", f"/v1/files/{stack.file_id}", headers=stack.auth())
                    samples[name].append(server.wait_every_worker(read, 200))
                else:
                    samples[name].append(server.wait_healthy())
                if name == "app" and not stack.token:
                    # The user and file the reads ask for, made once through the app's API.
                    stack.token, stack.file_id = prepare_user(server.port)
            finally:
                server.stop()
            step(f"container cold start {name} {run + 1}/{runs}")
    median = {name: statistics.median(values) for name, values in samples.items()}
    return {
        **{name: spread(values) for name, values in samples.items()},
        "ratio": round(median["app"] / median["baseline"], 3),
        "read_ratio": round(median["app_read"] / median["floor_read"], 3),
    }


def warm_load(
    stack: Stack,
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    pinning: Pinning,
    use_wrk: bool,
    step: Step = no_step,
) -> dict[str, Scenario]:
    """The hello world's ``/health`` (the baseline), then each of the app's endpoints, then
    the floor's read; every scenario after the baseline with its ratios."""
    results: dict[str, Scenario] = {}
    options: dict[str, Any] = {
        "concurrency": concurrency,
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "pinning": pinning,
        "use_wrk": use_wrk,
    }
    baseline = Gunicorn(
        app=f"{HELLO_MODULE}:app", env={"LOG_LEVEL": "INFO"}, pinning=pinning, workdir=stack.workdir
    )
    try:
        baseline.wait_healthy()
        hello = Target("hello", "GET", "/health", 200, {})
        results["hello"] = measure(baseline, hello, **options)
        step("warm load hello (baseline)")
    finally:
        baseline.stop()
    sessions = SessionCounter(stack.database_url)
    try:
        server = Gunicorn(app=None, env=stack.server_env(), pinning=pinning, workdir=stack.workdir)
        try:
            server.wait_healthy()
            if not stack.token:
                stack.token, stack.file_id = prepare_user(server.port)
            stack.job_id = prepare_job(server.port, stack.token)
            for target in app_targets(stack):
                results[target.name] = measure(server, target, sessions=sessions, **options)
                step(f"warm load {target.name}")
        finally:
            server.stop()
        floor_env = stack.server_env()
        floor = Gunicorn(
            app=f"{FLOOR_MODULE}:app", env=floor_env, pinning=pinning, workdir=stack.workdir
        )
        try:
            floor.wait_healthy()
            read = Target("floor_read", "GET", f"/v1/files/{stack.file_id}", 200, stack.auth())
            results["floor_read"] = measure(floor, read, sessions=sessions, **options)
            step("warm load floor_read (same-stack floor)")
        finally:
            floor.stop()
    finally:
        sessions.close()
    base = results["hello"]
    for name, scenario in list(results.items()):
        if name != "hello":
            results[name] = with_ratios(scenario, base, floor=results["floor_read"])
    return results
