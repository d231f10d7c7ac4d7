"""argon2id hashing; every call runs in a worker thread (argon2 is CPU-bound by design)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from app.config import Settings
    from app.db import Database


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @cached_property
    def _hasher(self) -> PasswordHasher:
        # Imported on first use: a cold start that serves no login never loads argon2.
        from argon2 import PasswordHasher

        return PasswordHasher(
            time_cost=self._settings.auth.argon2_time_cost,
            memory_cost=self._settings.auth.argon2_memory_cost_kib,
            parallelism=self._settings.auth.argon2_parallelism,
        )

    @cached_property
    def _dummy_hash(self) -> str:
        # Verified for unknown users so a login costs the same whether the email exists or not.
        return self._hasher.hash("trident-dummy-password-for-timing")

    def _hash(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await run_in_threadpool(self._hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def verify(self, password_hash: str, password: str) -> bool:
        return await run_in_threadpool(self._verify, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        await run_in_threadpool(self._verify, self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True, slots=True)
class PasswordGate:
    """What setting or checking a password needs besides the password: the hasher, the
    limits, the caller's address they count against, and the database that counts attempts
    in transactions of their own."""

    db: Database
    passwords: Passwords
    settings: Settings
    client_ip: str
