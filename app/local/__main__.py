"""``make dev``: the whole stack in one terminal; Ctrl-C stops every piece.

    python -m app.local            PostgreSQL + moto (S3, SQS) + API on 127.0.0.1:8000
    python -m app.local migrate    apply migrations to the same database, then exit

``DATABASE_URL`` and ``AWS_ENDPOINT_URL`` point it at services you already run instead.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType

from app.local.postgres import database_url
from app.local.stack import API_PORT, DATA_DIR, dev_stack, postgres
from app.migrations import upgrade_head


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


def serve() -> int:
    # Explicit handlers: Ctrl-C and SIGTERM stop the stack even when the runner was started
    # with SIGINT ignored (a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with dev_stack(api_port=API_PORT, worker=True, say=_say) as stack:
            children = stack.children
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
    if url := os.environ.get("DATABASE_URL"):
        upgrade_head(url)
    else:
        with postgres(DATA_DIR / "pg", keep=True) as server:
            upgrade_head(database_url(server))
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
