from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from app.accounts.schemas import AccountDelete
from app.auth.models import User
from app.auth.tokens import InvalidToken
from app.deps import Aws, Caller, PasswordGateDep, Session
from app.errors import problem_responses

router = APIRouter(prefix="/v1/users", tags=["users"])


async def get_account(caller: Caller, session: Session) -> User:
    """The caller's user, even one whose deletion started: only its retry may finish it
    (``CurrentUser`` answers 401 for it, as for an account already gone)."""
    user = await session.get(User, caller.user_id)
    if user is None:
        raise InvalidToken("user no longer exists")
    return user


@router.delete(
    "/me",
    status_code=204,
    name="delete_me",
    summary="Delete your account, its files, jobs and tokens (asks for the password again)",
    description=(
        "Everything goes: stored objects first, then the records. A 5xx may leave the "
        "deletion half done: the account is already unusable, and repeating the request (or "
        "the periodic cleanup) finishes it. `invalid-credentials` (401) is a wrong password; "
        "attempts count against the login limits (429 `rate-limited`)."
    ),
    responses=problem_responses(401, 422, 429),
)
async def delete_me(
    body: AccountDelete,
    account: Annotated[User, Depends(get_account)],
    session: Session,
    aws: Aws,
    gate: PasswordGateDep,
) -> Response:
    # Imported on first use: it brings the files domain, which a Lambda environment serving
    # logins (this router's group) would otherwise load at its cold start for nothing.
    from app.accounts import service

    await service.delete_account(
        session=session, aws=aws, gate=gate, user=account, password=body.password
    )
    return Response(status_code=204)
