"""SnapStart: the runtime's hooks, called as the runtime would (a stand-in for its module)."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import time
import types
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from app.auth.models import User
from app.auth.tokens import TokenIssuer
from app.db import IamAuthToken
from app.files.models import StoredFile
from app.jobs.models import Job
from tests.conftest import PASSWORD
from tests.handlers.conftest import LambdaRunner
from tests.handlers.test_api_events import json_body, v2


@pytest.fixture
def snapstart_hooks(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Callable[[], None]]]:
    registered: dict[str, list[Callable[[], None]]] = {"before": [], "after": []}
    module: Any = types.ModuleType("snapshot_restore_py")
    module.__spec__ = importlib.machinery.ModuleSpec("snapshot_restore_py", None)
    module.register_before_snapshot = registered["before"].append
    module.register_after_restore = registered["after"].append
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    return registered


def backends(pg_server: Any, database: str) -> list[str]:
    assert database.isidentifier()
    out = pg_server.psql(
        f"SELECT 'pid:' || pid FROM pg_stat_activity WHERE datname = '{database}';"  # noqa: S608
    )
    return [word for word in out.split() if word.startswith("pid:")]


def test_hooks_warm_the_request_and_connect_paths_then_restore_with_nothing_inherited(
    snapstart_hooks: dict[str, list[Callable[[], None]]],
    run_lambda: Callable[..., LambdaRunner],
    pg_server: Any,
) -> None:
    earlier = set(IamAuthToken._live)
    handler = run_lambda(db_iam_auth=True)
    assert [len(snapstart_hooks["before"]), len(snapstart_hooks["after"])] == [1, 1]
    env = handler.env
    database = str(make_url(env.settings.db.require_url()).database)
    assert env.app.full is None

    handler.run(snapstart_hooks["before"][0])
    # Everything a request needs is built: routes, mappers, the database's first connect.
    assert env.app.full is not None
    assert all(model.__mapper__.configured for model in (User, StoredFile, Job))
    assert env.resources.db.engine.dialect.server_version_info is not None
    tokens = list(set(IamAuthToken._live) - earlier)
    assert tokens
    assert all(token._token is not None for token in tokens)
    # ...and no connection is left for the snapshot to capture.
    deadline = time.monotonic() + 10
    while backends(pg_server, database):
        assert time.monotonic() < deadline, "a pre-snapshot connection is still open"
        time.sleep(0.1)

    handler.run(snapstart_hooks["after"][0])
    assert all(token._token is None for token in tokens)  # re-signed on the next connect

    email = f"snap-{uuid.uuid4().hex[:8]}@example.com"
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    created = handler(v2("POST", "/v1/auth/register", body=body, content_type="application/json"))
    assert created["statusCode"] == 201, created
    assert backends(pg_server, database), "the first request after restore connected anew"
    assert all(token._token is not None for token in tokens)
    user_id = json_body(created)["id"]
    token = TokenIssuer(env.settings).issue_access(uuid.UUID(user_id))
    me = handler(v2("GET", "/v1/users/me", authorization=f"Bearer {token}"))
    assert (me["statusCode"], json_body(me)["email"]) == (200, email)
