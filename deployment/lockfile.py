"""Pins and their ``# via`` graph, read from a pip-compile lock file."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"


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
            parents[current].add(normalize(via))
    return {name: Locked(pins[name], frozenset(parents[name])) for name in pins}


def requirements_for(lock: Mapping[str, Locked], *, roots: Iterable[str]) -> list[str]:
    """The pins of ``roots`` and of everything they need, by the lock's ``# via`` graph."""
    needed = {normalize(name) for name in roots}
    grew = True
    while grew:
        grew = False
        for name, pin in lock.items():
            if name not in needed and pin.parents & needed:
                needed.add(name)
                grew = True
    return [f"{name}=={lock[name].version}" for name in sorted(needed)]
