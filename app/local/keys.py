"""The local JWT key ring: generated once per checkout, so tokens survive restarts."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


def local_signing_keys(data_dir: Path) -> str:
    """JWT_SIGNING_KEYS for the local stack, read from (or first written to) ``data_dir``."""
    path = data_dir / "jwt-keys.json"
    if path.exists():
        return path.read_text()
    data_dir.mkdir(parents=True, exist_ok=True)
    keys = json.dumps({"local-1": secrets.token_urlsafe(48)})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # readable by us alone
    with os.fdopen(fd, "w") as handle:
        handle.write(keys)
    return keys
