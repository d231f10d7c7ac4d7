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


class Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
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
    local = provision(
        endpoint, region=settings.aws_region, bucket=settings.s3_bucket, queue=queue_name
    )
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        JOBS_QUEUE_URL=local.jobs_queue_url,
        AWS_ACCESS_KEY_ID=LOCAL_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=LOCAL_CREDENTIALS["aws_secret_access_key"],
    )
    _say(f"S3 + SQS (moto) on {endpoint}: bucket {local.bucket}, queue {queue_name}")


def _wait(process: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve() -> int:
    signal.signal(signal.SIGTERM, _raise_stop)
    with ExitStack() as stack:
        env = dict(os.environ)
        url = _database(stack)
        env["DATABASE_URL"] = url
        upgrade_head(url)
        _aws(stack, env)
        api = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "app.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(API_PORT),
                "--no-access-log",
            ],
            env=env,
        )
        stack.callback(_wait, api, 10)
        base = f"http://127.0.0.1:{API_PORT}"
        _say(f"API      {base}  (docs {base}/docs, health {base}/health)")
        _say("Ctrl-C stops everything")
        try:
            return api.wait()
        except (KeyboardInterrupt, Stop):
            # The terminal sent SIGINT to the whole group; uvicorn drains on its own.
            if api.poll() is None:
                api.send_signal(signal.SIGINT)
            _say("stopping")
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
