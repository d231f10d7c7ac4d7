from __future__ import annotations

import base64
import json
import time
import uuid
import warnings
from typing import Any

import jwt
import pytest
from sqlalchemy import select, text

from app.auth.models import RefreshToken, User
from app.auth.passwords import Passwords
from tests.conftest import PASSWORD, TEST_KEYS, assert_problem, auth_headers, login, register


async def test_register_returns_user_without_hash(client: Any, database: Any) -> None:
    response = await client.post(
        "/v1/auth/register", json={"email": "Ada@Example.com", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "created_at"}
    assert body["email"] == "ada@example.com"
    async with database.sessions() as session:
        stored = await session.scalar(select(User).where(User.email == "ada@example.com"))
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


async def test_duplicate_email_is_409_case_insensitive(client: Any) -> None:
    await register(client, "grace@example.com")
    response = await client.post(
        "/v1/auth/register", json={"email": "GRACE@example.com", "password": PASSWORD}
    )
    assert_problem(response, 409, "email-taken")


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "weak@example.com", "password": "Sh0rt!pw"},
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "x@example.com"},
        {"email": "x@example.com", "password": "p" * 1025},
    ],
)
async def test_bad_registration_is_422_problem_without_echoing_input(
    client: Any, payload: dict[str, str]
) -> None:
    response = await client.post("/v1/auth/register", json=payload)
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"]
    assert "Sh0rt!pw" not in response.text
    assert "input" not in json.dumps(body["errors"])


async def test_login_and_me(client: Any) -> None:
    user = await register(client)
    tokens = await login(client, user["email"].upper())
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    me = await client.get(
        "/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json() == user
    assert me.headers["cache-control"] == "private, no-cache"
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header == {"alg": "HS256", "kid": "test-1", "typ": "JWT"}
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user["id"]
    assert claims["exp"] - claims["iat"] <= 900
    assert claims["jti"]


async def test_unknown_user_and_wrong_password_look_identical(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await register(client)
    calls: list[str] = []
    original = Passwords.verify_dummy

    async def spy(self: Passwords, password: str) -> None:
        calls.append(password)
        await original(self, password)

    monkeypatch.setattr(Passwords, "verify_dummy", spy)
    wrong = await client.post(
        "/v1/auth/token", data={"username": user["email"], "password": "wrong password!"}
    )
    assert calls == []
    unknown = await client.post(
        "/v1/auth/token", data={"username": "nobody@example.com", "password": "wrong password!"}
    )
    assert calls == ["wrong password!"], "an unknown user must still pay one argon2 verification"
    for response in (wrong, unknown):
        assert_problem(response, 401, "invalid-credentials")
    bodies = [{k: v for k, v in r.json().items() if k != "request_id"} for r in (wrong, unknown)]
    assert bodies[0] == bodies[1]
    assert wrong.headers.keys() == unknown.headers.keys()


async def test_me_requires_a_token(client: Any) -> None:
    response = await client.get("/v1/users/me")
    assert_problem(response, 401, "invalid-token")
    assert response.headers["www-authenticate"].startswith("Bearer")


def _forge(claims: dict[str, Any], key: str, kid: str = "test-1", alg: str = "HS256") -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_bad_tokens_are_rejected(client: Any) -> None:
    user = await register(client)
    good = (await login(client, user["email"]))["access_token"]
    now = int(time.time())
    base = {"sub": user["id"], "iat": now, "exp": now + 60, "jti": "x", "iss": "trident"}
    head, payload, signature = good.split(".")
    tampered_claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered_claims["sub"] = str(uuid.uuid4())
    cases = {
        "expired": _forge({**base, "iat": now - 1000, "exp": now - 10}, TEST_KEYS["test-1"]),
        "tampered": f"{head}.{_b64(tampered_claims)}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'kid': 'test-1', 'typ': 'JWT'})}.{_b64(base)}.",
        "unknown kid": _forge(base, "u" * 40, kid="nope"),
        "wrong key for kid": _forge(base, "w" * 40),
        "HS512": _forge(base, TEST_KEYS["test-1"], alg="HS512"),
        "no exp": _forge({k: v for k, v in base.items() if k != "exp"}, TEST_KEYS["test-1"]),
        "wrong issuer": _forge({**base, "iss": "evil"}, TEST_KEYS["test-1"]),
        "garbage": "not.a.jwt",
    }
    for name, token in cases.items():
        response = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert_problem(response, 401, "invalid-token")


async def test_previous_key_still_verifies_after_rotation(client: Any) -> None:
    user = await register(client)
    now = int(time.time())
    old = _forge(
        {"sub": user["id"], "iat": now, "exp": now + 60, "jti": "j", "iss": "trident"},
        TEST_KEYS["test-0"],
        kid="test-0",
    )
    response = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {old}"})
    assert response.status_code == 200


async def test_deleted_user_token_is_rejected(client: Any, database: Any) -> None:
    user = await register(client)
    tokens = await login(client, user["email"])
    async with database.sessions() as session, session.begin():
        await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": user["id"]})
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert_problem(await client.get("/v1/users/me", headers=bearer), 401, "invalid-token")
    # The owned-row reads check the user in the same statement as the row: still a 401 (a
    # read that skipped the check would answer 404 for these ids).
    some_id = uuid.uuid4()
    for path in (f"/v1/files/{some_id}", f"/v1/files/{some_id}/download", f"/v1/jobs/{some_id}"):
        assert_problem(await client.get(path, headers=bearer), 401, "invalid-token")


async def test_refresh_rotates_and_old_token_is_single_use(client: Any, database: Any) -> None:
    user = await register(client)
    first = await login(client, user["email"])
    second = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert (
        await client.get(
            "/v1/users/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
        )
    ).status_code == 200
    async with database.sessions() as session:
        hashes = (await session.scalars(select(RefreshToken.token_hash))).all()
    assert first["refresh_token"] not in hashes
    assert rotated["refresh_token"] not in hashes

    # Reusing the first token is theft: it fails and ends the whole family.
    reuse = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_problem(reuse, 401, "refresh-token-reused")
    after = await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert_problem(after, 401, "invalid-refresh-token")
    async with database.sessions() as session:
        live = await session.scalar(select(RefreshToken).where(RefreshToken.revoked_at.is_(None)))
    assert live is None


async def test_refresh_with_unknown_or_expired_token(client: Any, database: Any) -> None:
    unknown = await client.post("/v1/auth/refresh", json={"refresh_token": "made-up"})
    assert_problem(unknown, 401, "invalid-refresh-token")
    user = await register(client)
    tokens = await login(client, user["email"])
    async with database.sessions() as session, session.begin():
        await session.execute(text("UPDATE refresh_tokens SET expires_at = now() - interval '1 s'"))
    expired = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_problem(expired, 401, "invalid-refresh-token")


async def test_logout_revokes_refresh_token(client: Any) -> None:
    user = await register(client)
    tokens = await login(client, user["email"])
    response = await client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    again = await client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 204
    refresh = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_problem(refresh, 401, "invalid-refresh-token")


async def test_login_rehashes_when_parameters_change(app_factory: Any, database: Any) -> None:
    import httpx

    weak_app = app_factory(argon2_time_cost=1)
    strong_app = app_factory(argon2_time_cost=2)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=weak_app), base_url="http://t"
    ) as c:
        user = await register(c)
    async with database.sessions() as session:
        before = await session.scalar(
            select(User.password_hash).where(User.id == uuid.UUID(user["id"]))
        )
    assert before is not None
    assert ",t=1," in before
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=strong_app), base_url="http://t"
    ) as c:
        await login(c, user["email"])
    async with database.sessions() as session:
        after = await session.scalar(
            select(User.password_hash).where(User.id == uuid.UUID(user["id"]))
        )
    assert after is not None
    assert ",t=2," in after


async def test_me_etag_round_trip(client: Any) -> None:
    headers = await auth_headers(client)
    first = await client.get("/v1/users/me", headers=headers)
    etag = first.headers["etag"]
    cached = await client.get("/v1/users/me", headers={**headers, "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    weak = await client.get(
        "/v1/users/me", headers={**headers, "If-None-Match": f'"other", W/{etag}'}
    )
    assert weak.status_code == 304
    other = await client.get("/v1/users/me", headers={**headers, "If-None-Match": '"stale"'})
    assert other.status_code == 200
