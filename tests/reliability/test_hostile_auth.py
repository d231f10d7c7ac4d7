"""Hostile authentication attempts not already covered by tests/auth.

Covered there (and listed in the README's results table): tampered, ``alg: none``, HS512,
expired, unknown-kid, wrong-issuer and wrong-key tokens; sequential refresh-token reuse;
identical 401s for unknown users and wrong passwords with a dummy argon2 verification;
brute force across addresses and across two app processes; spoofed X-Forwarded-For.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import pytest

from tests.conftest import PASSWORD, TEST_KEYS, assert_problem, login, register
from tests.reliability.conftest import CommittedApp


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _sign(claims: dict[str, Any], key: str, **header: Any) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm="HS256", headers=header)


def _sign_raw(claims: dict[str, Any], key: str, header: dict[str, Any]) -> str:
    """HS256 by hand, for headers PyJWT refuses to write."""
    signing_input = f"{_b64({'alg': 'HS256', **header})}.{_b64(claims)}"
    mac = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


async def _me(client: Any, token: str) -> Any:
    return await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})


async def test_header_tricks_cannot_choose_the_key_or_skip_the_check(client: Any) -> None:
    user = await register(client)
    now = int(time.time())
    claims = {"sub": user["id"], "iat": now, "exp": now + 60, "jti": "j", "iss": "trident"}
    attacker = "a" * 40
    embedded = {"kty": "oct", "k": base64.urlsafe_b64encode(attacker.encode()).decode()}
    cases = {
        # Whatever the header names, only our key ring verifies.
        "embedded jwk": _sign(claims, attacker, kid="test-1", jwk=embedded),
        "jku to attacker": _sign(claims, attacker, kid="test-1", jku="https://evil.example/k"),
        "kid path traversal": _sign(claims, attacker, kid="../../../../dev/null"),
        "kid not a string": _sign_raw(claims, TEST_KEYS["test-1"], {"kid": ["test-1"]}),
        "alg None (capitalised)": f"{_b64({'alg': 'None', 'kid': 'test-1'})}.{_b64(claims)}.",
        "alg NONE, signature kept": (
            f"{_b64({'alg': 'NONE', 'kid': 'test-1'})}.{_b64(claims)}."
            + _sign(claims, TEST_KEYS["test-1"], kid="test-1").rsplit(".", 1)[1]
        ),
        # Signed with our key, but not a token we would have issued.
        "not yet valid": _sign({**claims, "nbf": now + 3600}, TEST_KEYS["test-1"], kid="test-1"),
        "issued in the future": _sign(
            {**claims, "iat": now + 3600, "exp": now + 7200}, TEST_KEYS["test-1"], kid="test-1"
        ),
        "subject not a user id": _sign(
            {**claims, "sub": "admin"}, TEST_KEYS["test-1"], kid="test-1"
        ),
        "subject nobody": _sign(
            {**claims, "sub": str(uuid.uuid4())}, TEST_KEYS["test-1"], kid="test-1"
        ),
    }
    for name, token in cases.items():
        response = await _me(client, token)
        assert response.status_code == 401, name
        assert_problem(response, 401, "invalid-token")


async def test_token_kinds_and_places_are_not_interchangeable(client: Any) -> None:
    user = await register(client)
    tokens = await login(client, user["email"])
    # A refresh token is no bearer token, and an access token refreshes nothing.
    assert_problem(await _me(client, tokens["refresh_token"]), 401, "invalid-token")
    swapped = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert_problem(swapped, 422, "validation-error")  # longer than any refresh token
    # Only the Authorization header carries it: no query string, no other scheme.
    query = await client.get("/v1/users/me", params={"access_token": tokens["access_token"]})
    assert_problem(query, 401, "invalid-token")
    for value in (
        f"Basic {tokens['access_token']}",
        "Bearer",
        "Bearer ",
        f"Token {tokens['access_token']}",
        "Bearer " + "A" * 8192,
    ):
        response = await client.get("/v1/users/me", headers={"Authorization": value})
        assert_problem(response, 401, "invalid-token")
    # The untouched token still works, so the refusals above were about the shape.
    assert (await _me(client, tokens["access_token"])).status_code == 200


async def test_a_huge_password_costs_one_ordinary_check(client: Any) -> None:
    user = await register(client)
    started = time.monotonic()
    response = await client.post(
        "/v1/auth/token", data={"username": user["email"], "password": "p" * 900_000}
    )
    assert_problem(response, 401, "invalid-credentials")
    assert time.monotonic() - started < 5  # argon2 prehashes: no cost per byte worth having


async def test_case_and_space_variants_of_an_email_share_one_lockout(client: Any) -> None:
    user = await register(client)
    email: str = user["email"]
    variants = [email.upper(), f"  {email}", email.title(), f"{email}\t", email.swapcase()]
    for variant in variants:  # LOGIN_MAX_FAILURES (5) wrong guesses, each spelled differently
        wrong = await client.post("/v1/auth/token", data={"username": variant, "password": "no"})
        assert_problem(wrong, 401, "invalid-credentials")
    locked = await client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert_problem(locked, 429, "rate-limited")


@pytest.mark.parametrize("racers", [2, 6])
async def test_a_raced_refresh_token_is_spent_once_and_the_family_revoked(
    committed_app: Callable[..., Awaitable[CommittedApp]], racers: int
) -> None:
    """A stolen refresh token replayed at the same moment as the real client's refresh:
    exactly one request wins, the others are told it was reused, and the whole login ends."""
    _, client = await committed_app()
    user = await register(client)
    tokens = await login(client, user["email"])
    body = {"refresh_token": tokens["refresh_token"]}
    responses = await asyncio.gather(
        *(client.post("/v1/auth/refresh", json=body) for _ in range(racers))
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.status_code for r in responses]
    for loser in (r for r in responses if r.status_code != 200):
        assert_problem(loser, 401, "refresh-token-reused")
    # The winner's new refresh token died with the family.
    rotated = winners[0].json()["refresh_token"]
    after = await client.post("/v1/auth/refresh", json={"refresh_token": rotated})
    assert_problem(after, 401, "invalid-refresh-token")
