"""Login and registration rate limits, as a client meets them: 401s, then 429 + Retry-After.

In-process tests share one database connection, so their requests go one after another;
the concurrent case runs two real app processes against a database of their own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.local.aws import free_port
from tests.conftest import (
    PASSWORD,
    ServerProcess,
    assert_problem,
    login,
    register,
    server_env,
)

WRONG = "not the password at all"
LIMIT = 5  # LOGIN_MAX_FAILURES default
WINDOW_S = 60  # LOGIN_WINDOW_S default


@asynccontextmanager
async def client_from(app: Any, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose TCP peer address (what the app sees without a proxy) is ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def new_email() -> str:
    return f"rl-{uuid.uuid4().hex[:10]}@example.com"


async def try_login(
    client: httpx.AsyncClient, email: str, password: str = WRONG, **headers: str
) -> httpx.Response:
    return await client.post(
        "/v1/auth/token", data={"username": email, "password": password}, headers=headers
    )


def assert_rate_limited(response: httpx.Response, *, max_wait_s: int = WINDOW_S) -> int:
    assert_problem(response, 429, "rate-limited")
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= max_wait_s
    return int(retry_after)


async def test_account_is_locked_after_five_failures_even_from_new_addresses(
    app: Any, client: httpx.AsyncClient
) -> None:
    user = await register(client)
    # Each guess from a different address: only the per-account counter can stop them.
    for n in range(LIMIT):
        async with client_from(app, f"198.51.100.{n + 1}") as attacker:
            assert_problem(await try_login(attacker, user["email"]), 401, "invalid-credentials")
    async with client_from(app, "198.51.100.99") as fresh:
        # Even the right password is refused until the window ends.
        assert_rate_limited(await try_login(fresh, user["email"], PASSWORD))
        assert_rate_limited(await try_login(fresh, user["email"].upper(), PASSWORD))
    # Another account from the same addresses is not affected.
    other = await register(client)
    await login(client, other["email"])


async def test_successful_logins_do_not_use_up_the_budget(client: httpx.AsyncClient) -> None:
    user = await register(client)
    for _ in range(2 * LIMIT):
        await login(client, user["email"])
    # All five failures are still available, and the sixth attempt is refused.
    for _ in range(LIMIT):
        assert_problem(await try_login(client, user["email"]), 401, "invalid-credentials")
    assert_rate_limited(await try_login(client, user["email"], PASSWORD))


async def test_one_address_is_limited_across_accounts(app: Any, client: httpx.AsyncClient) -> None:
    victim = await register(client)
    async with client_from(app, "192.0.2.50") as attacker:
        for _ in range(LIMIT):  # unknown accounts count too
            assert_problem(await try_login(attacker, new_email()), 401, "invalid-credentials")
        assert_rate_limited(await try_login(attacker, victim["email"], PASSWORD))
    # The account itself is not locked: its owner, elsewhere, logs in.
    async with client_from(app, "192.0.2.51") as owner:
        await login(owner, victim["email"])


async def test_registration_is_limited_per_address(app_factory: Callable[..., Any]) -> None:
    app = app_factory(register_max_per_window=3)
    async with client_from(app, "192.0.2.60") as busy:
        for _ in range(3):
            await register(busy)
        response = await busy.post(
            "/v1/auth/register", json={"email": new_email(), "password": PASSWORD}
        )
        assert_rate_limited(response)
    async with client_from(app, "192.0.2.61") as other:
        await register(other)


async def test_spoofed_forwarded_for_is_ignored_without_trusted_proxy(
    client: httpx.AsyncClient,
) -> None:
    # TRUSTED_PROXY_HOPS=0 (the local and Lambda default): X-Forwarded-For is client data.
    victim = await register(client)
    for n in range(LIMIT):
        response = await try_login(client, new_email(), **{"X-Forwarded-For": f"10.9.8.{n}"})
        assert_problem(response, 401, "invalid-credentials")
    response = await try_login(
        client, victim["email"], PASSWORD, **{"X-Forwarded-For": "10.9.8.200"}
    )
    assert_rate_limited(response)


async def test_behind_one_proxy_the_address_it_appended_is_the_client(
    app_factory: Callable[..., Any],
) -> None:
    app = app_factory(trusted_proxy_hops=1)
    # Every request arrives from the load balancer's address; the ALB appends the real
    # client's address to whatever X-Forwarded-For the client sent.
    async with client_from(app, "10.0.0.5") as via_alb:
        victim = await register(via_alb, new_email())
        for n in range(LIMIT):
            spoofed = {"X-Forwarded-For": f"203.0.113.{n}, 198.51.100.7"}
            assert_problem(
                await try_login(via_alb, new_email(), **spoofed), 401, "invalid-credentials"
            )
        # A new left-most entry does not make a new client...
        spoofed = {"X-Forwarded-For": "203.0.113.250, 198.51.100.7"}
        assert_rate_limited(await try_login(via_alb, victim["email"], PASSWORD, **spoofed))
        # ...while another real client behind the same balancer is not limited.
        other = {"X-Forwarded-For": "203.0.113.0, 198.51.100.8"}
        response = await try_login(via_alb, victim["email"], PASSWORD, **other)
        assert response.status_code == 200, response.text


@pytest.mark.subprocess
async def test_limits_are_exact_under_concurrent_guesses_across_two_processes(
    clone_database: Callable[[], str], tmp_path: Path
) -> None:
    # Behind one trusted proxy, so each guess can come from an address of its own: then only
    # the per-account counter stands between the guesses and the password (and vice versa).
    env = server_env(clone_database(), tmp_path / "data", TRUSTED_PROXY_HOPS="1")
    servers = [ServerProcess(env, free_port(), tmp_path / f"server-{n}.log") for n in range(2)]
    try:
        for server in servers:
            await asyncio.to_thread(server.wait_ready)
        async with (
            httpx.AsyncClient(base_url=servers[0].base_url, timeout=30) as first,
            httpx.AsyncClient(base_url=servers[1].base_url, timeout=30) as second,
        ):
            both = (first, second)
            user = await register(first)

            async def guess(n: int, email: str, ip: str) -> httpx.Response:
                return await try_login(both[n % 2], email, **{"X-Forwarded-For": ip})

            # 20 guesses at one account, from 20 addresses, half through each process.
            responses = await asyncio.gather(
                *(guess(n, user["email"], f"198.51.100.{n + 1}") for n in range(20))
            )
            statuses = Counter(response.status_code for response in responses)
            assert statuses == {401: LIMIT, 429: 20 - LIMIT}, statuses
            for response in responses:
                if response.status_code == 429:
                    assert_rate_limited(response)
            # Both processes now refuse the account, the right password included.
            for n in range(2):
                assert_rate_limited(
                    await try_login(
                        both[n], user["email"], PASSWORD, **{"X-Forwarded-For": "192.0.2.1"}
                    )
                )

            # 20 guesses from one address, at 20 accounts.
            responses = await asyncio.gather(
                *(guess(n, new_email(), "203.0.113.200") for n in range(20))
            )
            statuses = Counter(response.status_code for response in responses)
            assert statuses == {401: LIMIT, 429: 20 - LIMIT}, statuses
    finally:
        for server in servers:
            server.stop()
