"""Pins and their ``# via`` graph, read from a pip-compile lock file."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"
PYPROJECT_ROOT = "trident (pyproject.toml)"
# The Lambda Python runtime ships these (boto3 and everything it pulls in).
RUNTIME_PROVIDED = frozenset({"boto3"})


@dataclass(frozen=True)
class Locked:
    version: str
    parents: frozenset[str]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> dict[str, Locked]:
    """Pins and their ``# via`` parents from a pip-compile lock file."""
    pins: dict[str, str] = {}
    parents: dict[str, set[str]] = {}
    current: str | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        if not raw.startswith((" ", "#")):
            name, _, version = line.partition("==")
            current = normalize(name.split("[")[0])
            pins[current] = version.split()[0]
            parents[current] = set()
            continue
        if current is None:
            continue
        via = line.lstrip("#").strip()
        if via.startswith("via "):
            via = via[4:]
        if via and via != "via":
            parents[current].add(via if via == PYPROJECT_ROOT else normalize(via))
    return {name: Locked(pins[name], frozenset(parents[name])) for name in pins}


def requirements_for(
    lock: Mapping[str, Locked],
    *,
    drop: Iterable[str] = (),
    own_boto3: bool = False,
    roots: Iterable[str] | None = None,
) -> list[str]:
    """Pins reachable from ``roots`` (default: our top-level requirements) once ``drop`` is
    cut off."""
    dropped = {normalize(name) for name in drop}
    if not own_boto3:
        dropped |= RUNTIME_PROVIDED
    if roots is None:
        roots = (name for name, pin in lock.items() if PYPROJECT_ROOT in pin.parents)
    needed = {normalize(name) for name in roots} - dropped
    grew = True
    while grew:
        grew = False
        for name, pin in lock.items():
            if name not in needed and name not in dropped and pin.parents & needed:
                needed.add(name)
                grew = True
    return [f"{name}=={lock[name].version}" for name in sorted(needed)]
