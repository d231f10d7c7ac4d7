"""Same-stack floor for the Lambda API's first authenticated read (``GET /v1/users/me``).

A fixed reference, never slowed and never dressed with the app's extras (settings, logging,
metrics, middleware, error handlers): FastAPI behind Mangum, a bearer token verified with
PyJWT (HS256, key by ``kid``, the app's required claims and issuer), one async SQLAlchemy
ORM ``session.get`` on the same ``users`` table over asyncpg, a pydantic response model. It
connects as the app does on Lambda: an RDS IAM auth token signed with botocore's SigV4 query
signer is the password. Its pool (one connection, as the app's on Lambda) is pinned here.

Bundled by ``bench/coldstart.py`` beside a hello world and measured in the same run as the
app. Reads ``DB_HOST`` (a host or a Unix socket directory), ``DB_PORT``, ``DB_NAME``,
``DB_USER``, ``AWS_REGION``, ``JWT_SIGNING_KEYS`` (JSON ``{kid: key}``) and ``JWT_ISSUER``.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException
from mangum import Mangum
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, String
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.floor_token import bearer_subject

POOL_SIZE = 1  # pinned: one connection per execution environment, as on Lambda
MAX_OVERFLOW = 0
TOKEN_TTL_S = 900


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    created_at: datetime


HOST = os.environ["DB_HOST"]
PORT = int(os.environ.get("DB_PORT", "5432"))
USER = os.environ["DB_USER"]
REGION = os.environ.get("AWS_REGION", "us-east-1")


def iam_token() -> str:
    """What boto3's ``generate_db_auth_token`` returns, signed locally."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.session import get_session

    signed_host = "localhost" if HOST.startswith("/") else HOST
    request = AWSRequest(
        method="GET",
        url=f"https://{signed_host}:{PORT}/",
        data={"Action": "connect", "DBUser": USER},
    )
    credentials = get_session().get_credentials()
    SigV4QueryAuth(credentials, "rds-db", REGION, expires=TOKEN_TTL_S).add_auth(request)
    return str(request.prepare().url).removeprefix("https://")


_where = f"?host={HOST}" if HOST.startswith("/") else ""
_server = "" if HOST.startswith("/") else f"{HOST}:{PORT}"
engine = create_async_engine(
    f"postgresql+asyncpg://{USER}@{_server}/{os.environ['DB_NAME']}{_where}",
    pool_size=POOL_SIZE,
    max_overflow=MAX_OVERFLOW,
    connect_args={"password": iam_token},
)
sessions = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()


@app.get("/v1/users/me", response_model=UserOut)
async def me(authorization: Annotated[str, Header()] = "") -> UserOut:
    owner = bearer_subject(authorization)
    async with sessions() as session:
        user = await session.get(User, owner)
    if user is None:
        raise HTTPException(401, "invalid token")
    return UserOut.model_validate(user)


handler = Mangum(app, lifespan="off")
