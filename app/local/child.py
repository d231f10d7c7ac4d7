"""The children of ``make dev``, each stopping by itself when the runner is gone.

``python -m app.local.child api PORT`` (Uvicorn), ``python -m app.local.child worker`` (the
jobs worker) and ``python -m app.local.child moto PORT`` (S3 and SQS). The runner stops them on
Ctrl-C; this watch covers the runner
dying without a chance to (SIGKILL, OOM killer, an IDE's stop button), which would otherwise
leave Uvicorn holding the port and the next ``make dev`` failing with "address in use".
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time


def _stop_when_orphaned(parent: int, interval_s: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(interval_s)
    # Same as the runner's own stop: Uvicorn drains and runs the app's shutdown.
    os.kill(os.getpid(), signal.SIGTERM)


USAGE = "usage: python -m app.local.child {api PORT | worker | moto PORT}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["api"] and len(argv) == 2 and argv[1].isdigit():
        _watch_parent()
        import uvicorn

        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host="127.0.0.1",
            port=int(argv[1]),
            access_log=False,
        )
        return 0
    if argv[:1] == ["moto"] and len(argv) == 2 and argv[1].isdigit():
        _watch_parent()
        import logging

        from moto.server import main as moto

        # One werkzeug line per S3/SQS call would drown the API's own log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        moto(["-H", "127.0.0.1", "-p", argv[1]])
        return 0
    if argv == ["worker"]:
        _watch_parent()
        from app.worker import main as worker

        worker()
        return 0
    raise SystemExit(USAGE)


def _watch_parent() -> None:
    threading.Thread(
        target=_stop_when_orphaned, args=(os.getppid(),), name="parent-watch", daemon=True
    ).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
