"""Database settings for AWS targets: DB_* pieces, TLS modes, IAM auth tokens for RDS Proxy."""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import Settings, SettingsError, load_settings
from app.db import IAM_TOKEN_REFRESH_S, IamAuthToken, connect_args, create_engine
from tests.conftest import TEST_KEYS

KEYS = json.dumps(TEST_KEYS)


def pieces(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "target": "lambda",
        "jwt_signing_keys": KEYS,
        "db_host": "trident.proxy-abc.us-east-1.rds.amazonaws.com",
        "db_name": "trident",
        "db_user": "app_user",
        "db_password": "p@ss:w/rd%",
    }
    values.update(overrides)
    return load_settings(**values)


def test_url_composed_from_pieces_escapes_the_password() -> None:
    settings = pieces()
    assert settings.db.require_url() == (
        "postgresql://app_user:p%40ss%3Aw%2Frd%25@"
        "trident.proxy-abc.us-east-1.rds.amazonaws.com:5432/trident"
    )
    # Under IAM auth the URL carries no password: each connection gets a signed token.
    iam = pieces(db_iam_auth=True, db_password=None, db_port=6543)
    assert iam.db.require_url() == (
        "postgresql://app_user@trident.proxy-abc.us-east-1.rds.amazonaws.com:6543/trident"
    )


def test_database_url_wins_over_pieces() -> None:
    settings = pieces(database_url="postgresql://other@db.example:5432/other")
    assert settings.db.require_url() == "postgresql://other@db.example:5432/other"


@pytest.mark.parametrize(
    ("missing", "variable"),
    [("db_name", "DB_NAME"), ("db_user", "DB_USER"), ("db_password", "DB_PASSWORD")],
)
def test_a_missing_piece_fails_at_startup_naming_it(
    missing: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TARGET", "fargate")
    monkeypatch.setenv("JWT_SIGNING_KEYS", KEYS)
    for name, value in {
        "DB_HOST": "db.internal",
        "DB_NAME": "trident",
        "DB_USER": "app",
        "DB_PASSWORD": "secret",
    }.items():
        if name != variable:
            monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"invalid settings: {variable} is not set"):
        load_settings()


def test_iam_auth_needs_no_password() -> None:
    assert pieces(db_iam_auth=True, db_password=None).db.iam_auth


def test_tls_required_on_aws_targets_and_off_locally() -> None:
    assert pieces().db.sslmode == "require"
    assert pieces(target="fargate").db.sslmode == "require"
    assert pieces(target="local").db.sslmode == "disable"
    assert pieces(db_sslmode="verify-full").db.sslmode == "verify-full"
    assert connect_args(pieces())["ssl"] == "require"
    assert "password" not in connect_args(pieces())


def test_rds_proxy_connections_carry_no_startup_parameters() -> None:
    """RDS Proxy refuses startup options it does not pass on (statement_timeout among them):
    the IAM path (always through the proxy) sends none; the statement timeout is the role's
    default there, set by the deploy's migration (tests/handlers/test_migrate.py)."""
    proxied = connect_args(pieces(db_iam_auth=True, db_password=None))
    assert "server_settings" not in proxied
    assert set(proxied) == {"timeout", "ssl", "password", "statement_cache_size"}
    direct = connect_args(pieces(db_statement_timeout_ms=2500))
    assert direct["server_settings"]["statement_timeout"] == "2500"
    assert (
        connect_args(pieces(), statement_timeout=False)["server_settings"]["statement_timeout"]
        == "0"
    )  # migrations: never cut short by the role default


def test_iam_token_is_what_boto3_generates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    settings = pieces(db_iam_auth=True, db_password=None, aws_region="eu-west-1")
    provider = connect_args(settings)["password"]
    assert isinstance(provider, IamAuthToken)
    frozen = datetime.datetime(2026, 11, 27, 12, 0, 0)
    with mock.patch("botocore.auth.get_current_datetime", return_value=frozen):
        ours = provider.sign()
        rds = boto3.session.Session().client("rds", region_name="eu-west-1")
        theirs = rds.generate_db_auth_token(
            DBHostname="trident.proxy-abc.us-east-1.rds.amazonaws.com",
            Port=5432,
            DBUsername="app_user",
        )
    assert ours == theirs
    assert "X-Amz-Expires=900" in ours
    assert "X-Amz-Security-Token=session-token" in ours


def test_iam_token_is_cached_then_signed_again_before_it_expires() -> None:
    now = [1000.0]
    token = IamAuthToken(
        host="proxy.example", port=5432, user="app", region="us-east-1", clock=lambda: now[0]
    )
    signed: list[str] = []

    def sign() -> str:
        signed.append(f"token-{len(signed)}")
        token._token, token._signed_at = signed[-1], now[0]
        return signed[-1]

    with mock.patch.object(token, "sign", side_effect=sign):
        assert asyncio.run(token()) == "token-0"
        now[0] += IAM_TOKEN_REFRESH_S - 1
        assert asyncio.run(token()) == "token-0"
        now[0] += 2  # past the refresh point, well inside the 15 minutes
        assert asyncio.run(token()) == "token-1"
        IamAuthToken.reset_all()  # a SnapStart restore
        assert asyncio.run(token()) == "token-2"


async def test_engine_connects_with_a_signed_token(
    clone_database: Callable[[str | None], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callable reaches asyncpg through SQLAlchemy: local PostgreSQL trusts the socket,
    so any password works, and the token must have been signed for the connection."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    url = make_url(clone_database(None))
    settings = load_settings(
        target="lambda",
        jwt_signing_keys=KEYS,
        db_host=url.query["host"],
        db_name=url.database,
        db_user="postgres",
        db_iam_auth=True,
        db_sslmode="disable",
    )
    engine = create_engine(settings)
    with mock.patch.object(
        IamAuthToken, "sign", autospec=True, side_effect=IamAuthToken.sign
    ) as sign:
        try:
            async with engine.connect() as connection:
                assert await connection.scalar(text("SELECT 1")) == 1
        finally:
            await engine.dispose()
    assert sign.call_count == 1
