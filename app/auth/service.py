"""Registration, login, refresh-token rotation and logout."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app import ratelimit
from app.auth.models import RefreshToken, User
from app.auth.passwords import PasswordGate
from app.auth.schemas import TokenPair
from app.auth.tokens import TokenIssuer, hash_refresh_token, new_refresh_token
from app.config import Settings
from app.errors import AppError

BAD_CREDENTIALS = "incorrect email or password"


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def register(*, session: AsyncSession, gate: PasswordGate, email: str, password: str) -> User:
    await ratelimit.consume(
        gate.db,
        keys=[f"register:ip:{gate.client_ip}"],
        window_s=gate.settings.auth.register_window_s,
        limit=gate.settings.auth.register_max_per_window,
        what="registrations",
    )
    password_hash = await gate.passwords.hash(password)
    inserted = await session.scalar(
        insert(User)
        .values(id=uuid.uuid4(), email=normalize_email(email), password_hash=password_hash)
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(User)
    )
    if not isinstance(inserted, User):
        raise AppError(409, "email-taken", "an account with this email already exists")
    return inserted


def login_keys(client_ip: str, email: str) -> list[str]:
    """The login limiter's buckets: one per client address, one per account."""
    return [f"login:ip:{client_ip}", f"login:account:{normalize_email(email)}"]


async def _reserve_attempt(gate: PasswordGate, keys: list[str]) -> None:
    # Reserve the attempt before checking it, in its own committed transaction: concurrent
    # guesses cannot all slip past the limit, and a failed attempt still counts.
    await ratelimit.consume(
        gate.db,
        keys=keys,
        window_s=gate.settings.auth.login_window_s,
        limit=gate.settings.auth.login_max_failures,
        what="failed logins",
    )


async def confirm_password(
    *, session: AsyncSession, gate: PasswordGate, user: User, password: str
) -> None:
    """Ask for the password again before something irreversible: 401 if it is wrong, counted
    against the same limits as logging in (so it is no way round them). The caller's session
    must hold no read: the attempt is counted on a connection of its own."""
    keys = login_keys(gate.client_ip, user.email)
    await _reserve_attempt(gate, keys)
    if not await gate.passwords.verify(user.password_hash, password):
        raise AppError(401, "invalid-credentials", "incorrect password")
    await ratelimit.give_back(session, keys=keys)


async def authenticate(
    *, session: AsyncSession, gate: PasswordGate, email: str, password: str
) -> User:
    email = normalize_email(email)
    keys = login_keys(gate.client_ip, email)
    await _reserve_attempt(gate, keys)
    passwords = gate.passwords

    user = await session.scalar(select(User).where(User.email == email))
    # End the read before hashing: argon2 takes tens of milliseconds of CPU, and a pooled
    # connection held across it is one that concurrent requests time out waiting for.
    await session.commit()
    if user is None or user.deleting_at is not None:
        await passwords.verify_dummy(password)
        raise AppError(401, "invalid-credentials", BAD_CREDENTIALS)
    if not await passwords.verify(user.password_hash, password):
        raise AppError(401, "invalid-credentials", BAD_CREDENTIALS)

    rehashed = (
        await passwords.hash(password) if passwords.needs_rehash(user.password_hash) else None
    )
    # In the request's transaction: a second connection held on top of this one would starve
    # a busy pool (and a login that fails after this point may as well count).
    await ratelimit.give_back(session, keys=keys)
    if rehashed is not None:
        user.password_hash = rehashed
    return user


async def issue_tokens(
    *,
    session: AsyncSession,
    issuer: TokenIssuer,
    settings: Settings,
    user_id: uuid.UUID,
    family_id: uuid.UUID | None = None,
) -> TokenPair:
    refresh = new_refresh_token()
    session.add(
        RefreshToken(
            id=uuid.uuid4(),
            user_id=user_id,
            family_id=family_id or uuid.uuid4(),
            token_hash=hash_refresh_token(refresh),
            expires_at=datetime.now(UTC) + timedelta(seconds=settings.auth.refresh_token_ttl_s),
        )
    )
    await session.flush()
    return TokenPair(
        access_token=issuer.issue_access(user_id),
        expires_in=issuer.access_ttl_s,
        refresh_token=refresh,
    )


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def rotate_refresh_token(
    *,
    session: AsyncSession,
    issuer: TokenIssuer,
    settings: Settings,
    refresh_token: str,
) -> TokenPair:
    invalid = AppError(401, "invalid-refresh-token", "refresh token is invalid or expired")
    token_hash = hash_refresh_token(refresh_token)
    current = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash)
    )
    if current is None or current.expires_at <= datetime.now(UTC):
        raise invalid
    claimed = await session.scalar(
        update(RefreshToken)
        .where(
            RefreshToken.id == current.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=datetime.now(UTC))
        .returning(RefreshToken.id)
    )
    if claimed is None:
        if current.revoked_at is not None:
            raise invalid
        # A used token came back: someone holds a copy. End the whole login, and commit
        # now: the 401 below rolls the request's transaction back.
        await _revoke_family(session, current.family_id)
        await session.commit()
        raise AppError(401, "refresh-token-reused", "refresh token was already used; log in again")
    return await issue_tokens(
        session=session,
        issuer=issuer,
        settings=settings,
        user_id=current.user_id,
        family_id=current.family_id,
    )


async def logout(*, session: AsyncSession, refresh_token: str) -> None:
    family_id = await session.scalar(
        select(RefreshToken.family_id).where(
            RefreshToken.token_hash == hash_refresh_token(refresh_token)
        )
    )
    if family_id is not None:
        await _revoke_family(session, family_id)


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)
