"""bench/floor_lambda.py: the Lambda floor does the read it stands for, on the real database."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from bench.coldstart import DUMMY_AWS, JWT_KEYS, _mint_token


@pytest.fixture
async def floor(
    clone_database: Callable[[], str], pg_server: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[ModuleType, str, str]]:
    # Async, so the module's Mangum finds the running loop instead of opening one of its own.
    url = clone_database()
    parsed = make_url(url)
    user_id = uuid.uuid4()
    pg_server.psql(
        f"\\c {parsed.database}\n"
        "INSERT INTO users (id, email, password_hash) "
        f"VALUES ('{user_id}', 'floor@example.com', 'not-a-hash');"
    )
    env = {
        "DB_HOST": str(parsed.query["host"]),
        "DB_NAME": str(parsed.database),
        "DB_USER": str(parsed.username),
        "JWT_SIGNING_KEYS": json.dumps(JWT_KEYS),
        **DUMMY_AWS,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("bench.floor_lambda", None)
    module = importlib.import_module("bench.floor_lambda")
    yield module, _mint_token(url, user_id), str(user_id)
    sys.modules.pop("bench.floor_lambda", None)


async def test_the_floor_verifies_the_token_and_reads_the_user(
    floor: tuple[ModuleType, str, str],
) -> None:
    module, token, user_id = floor
    transport = httpx.ASGITransport(app=module.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
            me = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
            forged = await client.get(
                "/v1/users/me", headers={"Authorization": f"Bearer {token[:-2]}xx"}
            )
            absent = await client.get("/v1/users/me")
    finally:
        await module.engine.dispose()
    assert me.status_code == 200, me.text
    assert me.json()["id"] == user_id
    assert me.json()["email"] == "floor@example.com"
    assert (forged.status_code, absent.status_code) == (401, 401)


async def test_the_floor_password_is_an_rds_iam_token(floor: tuple[ModuleType, str, str]) -> None:
    module, _, _ = floor
    token = module.iam_token()
    assert token.startswith("localhost:5432/?Action=connect&DBUser=")
    assert "X-Amz-Signature=" in token


def test_the_lambda_floors_install_the_functions_pins() -> None:
    from bench.coldstart import baseline_spec, floor_spec
    from deployment.lambda_bundle import FUNCTIONS, locked_requirements

    app_pins = set(locked_requirements(FUNCTIONS["api"]))
    baseline = set(baseline_spec().requirements or ())
    floor = set(floor_spec().requirements or ())
    names = {pin.split("==")[0] for pin in floor}
    assert {"fastapi", "mangum"} <= {pin.split("==")[0] for pin in baseline}
    assert {"fastapi", "mangum", "sqlalchemy", "asyncpg", "pyjwt"} <= names
    # The same versions as the app's own bundle: a floor must differ only in the code.
    assert baseline <= app_pins
    assert floor <= app_pins
