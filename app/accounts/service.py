"""Deleting an account: the user, their tokens, jobs, files and every object they own.

Three steps, each safe to crash after and to run again:

1. one transaction sets ``users.deleting_at``, revokes the refresh tokens and marks every file
   deleted: from its commit the account is gone to every request (its access tokens answer
   401), no verifier decides its uploads, and the unfinished deletion is on record;
2. every object under the user's prefixes is deleted (S3 deletes are idempotent);
3. the user row goes, and its tokens, jobs and files with it (``ON DELETE CASCADE``).

Objects go before rows, so no object is ever left without the record that leads to it. A
crash after step 1 is finished by the request's retry (same token, same password) or by the
``accounts-cleanup`` periodic task once it is ``SETTLE_S`` old.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import RefreshToken, User
from app.auth.passwords import PasswordGate
from app.auth.service import confirm_password, login_keys
from app.aws import AwsClients, Duty, performs
from app.db import Database
from app.files import storage
from app.files.models import StoredFile
from app.files.service import presign_limit_key
from app.ratelimit import RateLimitCounter

logger = logging.getLogger("app.accounts")

BATCH = 100
# A deletion is finished by its own request; only one stuck this long is cleanup's business.
SETTLE_S = 60


async def start_deletion(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Step 1, committed when it returns (idempotent: a second call keeps the first time)."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(deleting_at=func.coalesce(User.deleting_at, func.now()))
    )
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    await session.execute(
        update(StoredFile)
        .where(StoredFile.user_id == user_id)
        .values(deleted_at=func.coalesce(StoredFile.deleted_at, func.now()))
    )
    await session.commit()


async def finish_deletion(*, db: Database, aws: AwsClients, user_id: uuid.UUID) -> bool:
    """Steps 2 and 3 for an account whose deletion started; False if there was none to end."""
    objects = await storage.delete_user_objects(aws, user_id)
    async with db.side_transaction() as session:
        email = await session.scalar(
            delete(User)
            .where(User.id == user_id, User.deleting_at.is_not(None))
            .returning(User.email)
        )
        if email is not None:
            # Limiter rows named after the account would outlive it (one holds the email).
            keys = [login_keys("", email)[1], presign_limit_key(user_id)]
            await session.execute(delete(RateLimitCounter).where(RateLimitCounter.key.in_(keys)))
    if email is not None:
        logger.info("account deleted", extra={"user_id": str(user_id), "objects": objects})
    return email is not None


async def delete_account(
    *, session: AsyncSession, aws: AwsClients, gate: PasswordGate, user: User, password: str
) -> None:
    """The whole deletion, from the password check on; repeating it finishes a crashed one."""
    # End the user's read: the attempt is counted on a connection of its own.
    await session.commit()
    await confirm_password(session=session, gate=gate, user=user, password=password)
    await start_deletion(session=session, user_id=user.id)
    await finish_deletion(db=gate.db, aws=aws, user_id=user.id)


@performs(Duty.HOUSEKEEPING)
async def finish_interrupted(
    *, db: Database, aws: AwsClients, settle_s: float = SETTLE_S
) -> dict[str, int]:
    """Finish every deletion started more than ``settle_s`` ago (the periodic task)."""
    finished = 0
    while True:
        async with db.side_transaction() as session:
            stuck = list(
                await session.scalars(
                    select(User.id)
                    .where(User.deleting_at < func.now() - timedelta(seconds=settle_s))
                    .order_by(User.deleting_at)
                    .limit(BATCH)
                )
            )
        for user_id in stuck:
            finished += await finish_deletion(db=db, aws=aws, user_id=user_id)
        if len(stuck) < BATCH:
            return {"accounts_deleted": finished}
