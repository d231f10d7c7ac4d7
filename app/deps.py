"""Annotated dependencies shared by every router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.auth.passwords import PasswordGate, Passwords
from app.auth.tokens import AccessClaims, InvalidToken, TokenIssuer
from app.aws import AwsClients
from app.config import Settings
from app.db import Database
from app.middleware import client_ip
from app.resources import Resources


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def tokens_of(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.tokens
    return issuer


def resources_of(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def database_of(request: Request) -> Database:
    return resources_of(request).db


def passwords_of(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


async def get_settings(request: Request) -> Settings:
    return settings_of(request)


async def get_database(request: Request) -> Database:
    return database_of(request)


# Every dependency here is ``async def``: FastAPI runs a plain ``def`` one in a worker thread,
# a thread hop per dependency per request for what is an attribute lookup.
AppSettings = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]


READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed before the response is sent, else rolled back.
    GET and HEAD only read: their statements run in autocommit (no BEGIN/COMMIT round trips),
    so a GET route must never write."""
    # database_of rather than a DatabaseDep: every dependency costs a resolution per request.
    db = database_of(request)
    reads = db.reads if request.method in READ_ONLY_METHODS else None
    factory = reads or db.sessions
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": commit runs before the response goes out, so a failed commit is a 500
# the client sees rather than a 200 for data that was never written.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_token_issuer(request: Request) -> TokenIssuer:
    return tokens_of(request)


TokenIssuerDep = Annotated[TokenIssuer, Depends(get_token_issuer)]


async def get_client_ip(request: Request, settings: AppSettings) -> str:
    return client_ip(request.scope, settings.http.trusted_proxy_hops)


ClientIP = Annotated[str, Depends(get_client_ip)]


async def get_password_gate(request: Request, settings: AppSettings, ip: ClientIP) -> PasswordGate:
    # The database and the hasher looked up, not declared: a dependency costs a resolution.
    return PasswordGate(
        db=database_of(request),
        passwords=passwords_of(request),
        settings=settings,
        client_ip=ip,
    )


PasswordGateDep = Annotated[PasswordGate, Depends(get_password_gate)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


async def get_caller(
    token: Annotated[str | None, Depends(oauth2_scheme)], request: Request
) -> AccessClaims:
    if token is None:
        raise InvalidToken("missing bearer token")
    return tokens_of(request).verify_access(token)


# The bearer token, verified, but its user not yet looked up: a route taking only this must
# read through app.auth.ownership, which checks the user in the same statement as its row.
Caller = Annotated[AccessClaims, Depends(get_caller)]


async def get_current_user(caller: Caller, session: Session) -> User:
    user = await session.get(User, caller.user_id)
    # An account being deleted is gone already; only its deletion's retry reads it.
    if user is None or user.deleting_at is not None:
        raise InvalidToken("user no longer exists")
    # The read stays in the request's transaction: one transaction per request. A route that
    # needs a second connection (a side transaction) commits first, so no request holds one
    # connection while it waits for another (tests/reliability/test_pool.py).
    return user


# FastAPI caches dependencies per request: the user is resolved once however many use it.
CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_aws(request: Request) -> AwsClients:
    return resources_of(request).aws


Aws = Annotated[AwsClients, Depends(get_aws)]
