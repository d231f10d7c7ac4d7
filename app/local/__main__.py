"""``make dev``: the whole stack in one terminal; Ctrl-C stops every piece.

    python -m app.local            PostgreSQL + moto (S3, SQS) + API on 127.0.0.1:8000
    python -m app.local migrate    apply migrations to the same database, then exit

``DATABASE_URL`` and ``AWS_ENDPOINT_URL`` point it at services you already run instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

from app.config import load_settings
from app.local.aws import LOCAL_CREDENTIALS, provision, start_moto
from app.local.postgres import database_url, start_postgres
from app.migrations import upgrade_head

DATA_DIR = Path(os.environ.get("DATA_DIR", ".data"))
API_PORT = int(os.environ.get("PORT", "8000"))
AWS_PORT = int(os.environ.get("LOCAL_AWS_PORT", "4566"))


class Stop(BaseException):
    """Ctrl-C or SIGTERM; a BaseException so no ``except Exception`` on the way swallows it."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    # One stop is enough: a second Ctrl-C must not cut the cleanup short (an interrupted
    # `pg_ctl stop` leaves PostgreSQL running). Uvicorn, in our process group, still gets
    # it directly and quits without draining, which is what a second Ctrl-C means there.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stop


def _say(message: str) -> None:
    print(f"[trident] {message}", flush=True)  # noqa: T201  (this is a CLI)


def _database(stack: ExitStack) -> str:
    if url := os.environ.get("DATABASE_URL"):
        _say("using DATABASE_URL from the environment")
        return url
    started = time.perf_counter()
    server = start_postgres(DATA_DIR / "pg")
    stack.callback(server.cleanup)
    _say(f"PostgreSQL ready in {time.perf_counter() - started:.1f} s (data in {DATA_DIR / 'pg'})")
    return database_url(server)


def _aws(stack: ExitStack, env: dict[str, str]) -> None:
    if os.environ.get("AWS_ENDPOINT_URL"):
        _say(f"using AWS_ENDPOINT_URL={os.environ['AWS_ENDPOINT_URL']}")
        return
    settings = load_settings()
    try:
        moto = start_moto(AWS_PORT)
    except OSError as exc:
        raise SystemExit(
            f"port {AWS_PORT} is busy ({exc}); set LOCAL_AWS_PORT to a free port"
        ) from exc
    stack.callback(moto.stop)
    endpoint = f"http://127.0.0.1:{AWS_PORT}"
    queue_name = os.environ.get("JOBS_QUEUE_NAME", "trident-jobs")
    # The upload page POSTs to the bucket from the API's origin.
    origins = settings.files_cors_origins or [
        f"http://127.0.0.1:{API_PORT}",
        f"http://localhost:{API_PORT}",
    ]
    local = provision(
        endpoint,
        region=settings.aws_region,
        bucket=settings.s3_bucket,
        queue=queue_name,
        cors_origins=origins,
    )
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        JOBS_QUEUE_URL=local.jobs_queue_url,
        JOBS_DLQ_URL=local.dead_letter_queue_url,
        AWS_ACCESS_KEY_ID=LOCAL_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=LOCAL_CREDENTIALS["aws_secret_access_key"],
    )
    _say(f"S3 + SQS (moto) on {endpoint}: bucket {local.bucket}, queue {queue_name}")


def _stop_child(process: subprocess.Popen[bytes], timeout: float) -> None:
    # SIGTERM, not SIGINT: after the terminal's own SIGINT, a second SIGINT makes Uvicorn
    # force-quit (requests in flight dropped, the app's shutdown skipped).
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve() -> int:
    # Explicit handlers: Ctrl-C and SIGTERM stop the stack even when the runner was started
    # with SIGINT ignored (a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with ExitStack() as stack:
            env = dict(os.environ)
            url = _database(stack)
            env["DATABASE_URL"] = url
            # Below the runner's own 10 s wait for its children.
            env.setdefault("WORKER_SHUTDOWN_GRACE_S", "5")
            env.setdefault("WORKER_POLL_WAIT_S", "2")
            upgrade_head(url)
            _aws(stack, env)
            # Uvicorn and the jobs worker, each stopping by itself if this runner is ever
            # killed outright.
            children = []
            for args in (["api", str(API_PORT)], ["worker"]):
                child = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
                    [sys.executable, "-m", "app.local.child", *args], env=env
                )
                stack.callback(_stop_child, child, 10)
                children.append(child)
            base = f"http://127.0.0.1:{API_PORT}"
            _say(f"API      {base}  (docs {base}/docs, health {base}/health)")
            _say("worker   running jobs from the local queue")
            _say("Ctrl-C stops everything")
            try:
                while all(child.poll() is None for child in children):
                    time.sleep(0.2)
                _say("a child process exited; stopping the stack")
                return 1
            except Stop:
                _say("stopping")
                return 0
    except Stop:
        # Stopped while starting: whatever had started is stopped by the exit stack.
        _say("stopped")
        return 0


def migrate() -> int:
    with ExitStack() as stack:
        upgrade_head(_database(stack))
        _say("migrations applied")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["migrate"]:
        return migrate()
    if argv:
        raise SystemExit(__doc__)
    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
