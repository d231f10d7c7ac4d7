"""DELETE /v1/users/me: everything the account held goes, and a crash midway is finished later."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.accounts import service as accounts
from app.aws import AwsClients
from app.config import Settings
from app.db import Database
from app.files import storage
from app.jobs.periodic import PeriodicTasks
from app.jobs.runtime import JobRuntime
from tests.conftest import PASSWORD, assert_problem, login, register
from tests.files.conftest import complete, s3_client, start_upload, uploaded

ME = "/v1/users/me"


@dataclass(frozen=True)
class Account:
    user_id: uuid.UUID
    email: str
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


def objects_of(settings: Settings, user_id: uuid.UUID) -> list[str]:
    s3 = s3_client(settings.aws.endpoint_url or "")
    return [
        item["Key"]
        for prefix in storage.user_prefixes(user_id)
        for item in s3.list_objects_v2(Bucket=settings.files.bucket, Prefix=prefix).get(
            "Contents", []
        )
    ]


async def rows_of(database: Database, user_id: uuid.UUID) -> dict[str, int]:
    counts = {}
    async with database.sessions() as session:
        for table, column in (
            ("users", "id"),
            ("refresh_tokens", "user_id"),
            ("jobs", "user_id"),
            ("files", "user_id"),
        ):
            counts[table] = int(
                await session.scalar(
                    text(f"SELECT count(*) FROM {table} WHERE {column} = :u"),  # noqa: S608
                    {"u": user_id},
                )
                or 0
            )
    return counts


async def full_account(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> Account:
    """An account holding one of everything: a ready file, a pending upload, an export job
    and its result, two logins."""
    user = await register(client)
    await login(client, user["email"])
    account = Account(uuid.UUID(user["id"]), user["email"], await login(client, user["email"]))
    ready = await uploaded(client, account.headers, b"hello world")
    await complete(client, account.headers, ready["file_id"])
    await start_upload(client, account.headers)  # never uploaded: a record, no object
    await uploaded(client, account.headers, b"pending")  # uploaded, not yet verified
    job = await client.post("/v1/jobs", json={"kind": "export"}, headers=account.headers)
    assert job.status_code == 202, job.text
    s3 = s3_client(settings.aws.endpoint_url or "")
    export = storage.export_key(account.user_id, uuid.UUID(job.json()["job_id"]))
    s3.put_object(Bucket=settings.files.bucket, Key=export, Body=b"name\r\n")
    assert len(objects_of(settings, account.user_id)) == 3
    assert await rows_of(database, account.user_id) == {
        "users": 1,
        "refresh_tokens": 2,
        "jobs": 1,
        "files": 3,
    }
    return account


async def assert_gone(
    client: httpx.AsyncClient, database: Database, settings: Settings, account: Account
) -> None:
    assert objects_of(settings, account.user_id) == []
    assert await rows_of(database, account.user_id) == dict.fromkeys(
        ("users", "refresh_tokens", "jobs", "files"), 0
    )
    assert_problem(await client.get(ME, headers=account.headers), 401, "invalid-token")
    assert_problem(await client.get("/v1/files", headers=account.headers), 401, "invalid-token")
    login_again = {"username": account.email, "password": PASSWORD}
    assert_problem(
        await client.post("/v1/auth/token", data=login_again), 401, "invalid-credentials"
    )
    refresh = {"refresh_token": account.tokens["refresh_token"]}
    assert_problem(
        await client.post("/v1/auth/refresh", json=refresh), 401, "invalid-refresh-token"
    )


async def delete_me(
    client: httpx.AsyncClient, account: Account, password: str = PASSWORD
) -> httpx.Response:
    return await client.request("DELETE", ME, json={"password": password}, headers=account.headers)


async def test_deleting_an_account_removes_rows_objects_and_tokens(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    account = await full_account(client, database, settings)
    response = await delete_me(client, account)
    assert response.status_code == 204, response.text
    assert response.content == b""
    await assert_gone(client, database, settings, account)
    # The email is free again, and the new account is a different one.
    again = await register(client, account.email)
    assert again["id"] != str(account.user_id)


async def test_a_wrong_password_is_refused_and_counted_like_a_login(
    app_factory: Callable[..., Any], database: Database, settings: Settings
) -> None:
    app = app_factory(login_max_failures=2)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.77", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        user = await register(client)
        account = Account(uuid.UUID(user["id"]), user["email"], await login(client, user["email"]))
        for _ in range(2):
            wrong = await delete_me(client, account, "not the password!")
            assert_problem(wrong, 401, "invalid-credentials")
        assert_problem(await delete_me(client, account), 429, "rate-limited")
        no_password = await client.request("DELETE", ME, json={}, headers=account.headers)
        assert_problem(no_password, 422, "validation-error")
        assert_problem(
            await client.request("DELETE", ME, json={"password": "x"}), 401, "invalid-token"
        )
        assert (await client.get(ME, headers=account.headers)).status_code == 200
        assert (await rows_of(database, account.user_id))["users"] == 1


def crash_in(monkeypatch: pytest.MonkeyPatch, *, after_objects: bool) -> None:
    """Make the deletion fail right before (or right after) it deletes the objects."""
    real = storage.delete_user_objects

    async def crashing(aws: AwsClients, user_id: uuid.UUID) -> int:
        if after_objects:
            await real(aws, user_id)
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(storage, "delete_user_objects", crashing)


async def crashed_deletion(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    *,
    after_objects: bool,
) -> Account:
    """An account whose deletion crashed (a 500) before or after its objects went."""
    account = await full_account(client, database, settings)
    crash_in(monkeypatch, after_objects=after_objects)
    assert_problem(await delete_me(client, account), 500, "internal-error")
    return account


async def test_a_deletion_interrupted_before_the_objects_completes_on_retry(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = await crashed_deletion(client, database, settings, monkeypatch, after_objects=False)

    # Half done: nothing deleted yet, but the account is already unusable.
    assert len(objects_of(settings, account.user_id)) == 3
    assert (await rows_of(database, account.user_id))["users"] == 1
    assert_problem(await client.get(ME, headers=account.headers), 401, "invalid-token")
    login_again = {"username": account.email, "password": PASSWORD}
    assert_problem(
        await client.post("/v1/auth/token", data=login_again), 401, "invalid-credentials"
    )
    assert_problem(
        await delete_me(client, account, "not the password!"), 401, "invalid-credentials"
    )

    monkeypatch.undo()
    assert (await delete_me(client, account)).status_code == 204
    await assert_gone(client, database, settings, account)


async def test_a_deletion_interrupted_after_the_objects_is_finished_by_cleanup(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = await crashed_deletion(client, database, settings, monkeypatch, after_objects=True)
    monkeypatch.undo()
    assert objects_of(settings, account.user_id) == []
    assert (await rows_of(database, account.user_id))["users"] == 1

    runtime = JobRuntime(settings=settings, db=database, aws=AwsClients(settings))
    # A deletion this fresh is its own request's to finish, not cleanup's.
    assert (await PeriodicTasks(runtime).run_due())["accounts-cleanup"] == {"accounts_deleted": 0}
    async with database.side_transaction() as session:
        await session.execute(
            text(
                "UPDATE users SET deleting_at = deleting_at - make_interval(secs => :s)"
                " WHERE id = :u"
            ),
            {"s": accounts.SETTLE_S + 1, "u": account.user_id},
        )
    report = await PeriodicTasks(runtime).run_due()
    assert report["accounts-cleanup"] == {"accounts_deleted": 1}
    await assert_gone(client, database, settings, account)
