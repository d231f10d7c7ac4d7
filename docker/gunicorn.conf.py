"""Gunicorn for the container targets (Fargate, EC2): ``gunicorn -c docker/gunicorn.conf.py``.

Every knob reads an environment variable so the same file serves both targets.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from app.observability import JsonFormatter

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
wsgi_app = "app.main:create_app()"
worker_class = "uvicorn_worker.UvicornWorker"
# Async workers: one per core saturates it; more only adds memory and DB connections.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
# SIGTERM (ECS stop, ASG scale-in) lets in-flight requests finish for this long.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "30"))
timeout = int(os.environ.get("WORKER_TIMEOUT", "60"))
# Longer than the ALB idle timeout (60 s), so the ALB never reuses a socket we closed.
keepalive = int(os.environ.get("KEEPALIVE", "75"))
# Recycle workers now and then (bounded leaks), staggered so they never restart together.
max_requests = int(os.environ.get("MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
# The app reads the ALB's X-Forwarded-For itself, with TRUSTED_PROXY_HOPS.
forwarded_allow_ips = ""
accesslog = None  # the app writes one JSON line per request
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


class JsonLogger(Logger):
    """Gunicorn's own lines (and the Uvicorn workers', which share its handler) in the app's
    JSON shape, scrubbed: one log format per container."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


logger_class = JsonLogger

# Prometheus multiprocess mode: every worker writes its samples under one directory and
# /metrics (whichever worker answers) sums them. Set before any worker imports the client.
metrics_dir = Path(
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="trident-metrics-"))
)


def on_starting(server: Any) -> None:
    # Samples from a previous run of this master would be counted again.
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
