"""Shared fixtures: one throwaway PostgreSQL per session, one rolled-back transaction per test.

In-process tests share the ``trident_test`` database and see each other's nothing: every
test runs inside an outer transaction that is rolled back, and the app's commits become
SAVEPOINT releases. Tests where another process must see the rows call ``clone_database``
for a database of their own, copied from the migrated template.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from app.config import Settings, load_settings
from app.db import Database, create_engine
from app.domains import compose
from app.local.aws import LOCAL_CREDENTIALS, LocalAws, provision
from app.local.postgres import database_url
from app.local.stack import moto_server, postgres
from app.main import create_app
from app.migrations import upgrade_head
from app.observability import JsonFormatter
from app.resources import Resources
from tests import iam_guard

# Never reach a real AWS account from the tests, whatever the developer's shell holds.
os.environ.update(
    AWS_ACCESS_KEY_ID=LOCAL_CREDENTIALS["aws_access_key_id"],
    AWS_SECRET_ACCESS_KEY=LOCAL_CREDENTIALS["aws_secret_access_key"],
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_SESSION_TOKEN", None)
# What every worker entry point does first; tests drive the runner and workers directly.
compose()

TEMPLATE_DB = "trident_template"

# `make test` runs the suite on pytest-xdist workers (`--dist loadgroup`). Tests that share an
# expensive setup (the CDK synth, a Lambda bundle, a server per module) go to one worker, so it
# is built once. Grouped here by path: xdist's own `xdist_group` marks do not reach its
# scheduler under pytest 9 (it renames items through an attribute pytest no longer reads).
SHARED_SETUP = (
    "tests/cdk/",
    "tests/bench/test_emulator.py",
    "tests/reliability/test_contract.py",
    "tests/reliability/test_aws_outage.py",
    "tests/reliability/test_hostile_http.py",
    "tests/reliability/test_database_outage.py",
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class SharedSetupScheduling(LoadGroupScheduling):  # type: ignore[misc]  # xdist is untyped
        def _split_scope(self, nodeid: str) -> str:
            shared = next((p for p in SHARED_SETUP if nodeid.startswith(p)), None)
            return shared or super()._split_scope(nodeid)

    return SharedSetupScheduling(config, log)


# The scheduler hands out single tests in collection order: under xdist the longest go first
# (as long as the last run measured them; before any run, those that start processes), so the
# last ones handed out are short and no worker is left alone with a long test at the end.
DURATIONS_KEY = "trident/durations"
_durations: dict[str, float] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if "PYTEST_XDIST_WORKER" not in os.environ or cache is None:
        return
    known: dict[str, float] = cache.get(DURATIONS_KEY, {})

    def longest_first(item: pytest.Item) -> float:
        if item.nodeid.startswith(SHARED_SETUP):
            return 0.0  # in their own order: a group is handed out whole
        guess = 5.0 if item.get_closest_marker("subprocess") else 0.0
        return -known.get(item.nodeid, guess)

    items.sort(key=longest_first)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    cache = getattr(session.config, "cache", None)
    if "PYTEST_XDIST_WORKER" in os.environ or cache is None or not _durations:
        return
    cache.set(DURATIONS_KEY, {**cache.get(DURATIONS_KEY, {}), **_durations})


@pytest.fixture(scope="session", autouse=True)
def _iam_guard_installed() -> Iterator[None]:
    yield from iam_guard.install()


# What configure_logging turns off (our lines print no location, thread or process).
_LOGGING_RECORD_SWITCHES = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """An app or Lambda handler built in-process reconfigures logging (root level, handlers,
    record fields): a test that set LOG_LEVEL=CRITICAL must not silence the records a later
    test reads, and pytest's capture handlers the Lambda configuration removed come back."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    record_fields = [(name, getattr(logging, name)) for name in _LOGGING_RECORD_SWITCHES]
    yield
    root.setLevel(level)
    for name, value in record_fields:
        setattr(logging, name, value)
    for handler in list(root.handlers):
        # pytest's own capture handlers come and go per phase; ours carry the JSON formatter.
        if handler not in handlers and isinstance(handler.formatter, JsonFormatter):
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)


@pytest.fixture(autouse=True)
def _iam_guard_checked(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test whose AWS calls the manifest does not allow (see tests/iam_guard.py)."""
    iam_guard.GUARD.take_violations()
    yield
    internals = request.node.get_closest_marker("aws_internals") is not None
    violations = iam_guard.GUARD.take_violations(outside_entry_points=not internals)
    if violations:
        pytest.fail("AWS calls the deployed role would be denied:\n" + "\n".join(violations))


TEST_KEYS = {"test-1": "k" * 40, "test-0": "o" * 40}
PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with postgres(tmp_path_factory.mktemp("pg") / "data") as server:
        yield server


@pytest.fixture(scope="session")
def clone_database(pg_server: Any) -> Callable[[str | None], str]:
    server = pg_server
    server.psql(f"CREATE DATABASE {TEMPLATE_DB};")
    upgrade_head(database_url(server, TEMPLATE_DB))

    def clone(name: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        server.psql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB};")
        return database_url(server, name)

    return clone


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server in a process of its own, as every local run starts it."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def make_queues(moto_endpoint: str) -> Callable[..., LocalAws]:
    """A bucket and a jobs queue + DLQ of their own (for tests that consume messages)."""

    def make(
        *,
        max_receive_count: int = 3,
        visibility_timeout_s: int = 1,
        upload_events: bool = False,
        cors_origins: Sequence[str] = (),
    ) -> LocalAws:
        suffix = uuid.uuid4().hex[:10]
        return provision(
            moto_endpoint,
            region="us-east-1",
            bucket=f"trident-test-{suffix}",
            queue=f"jobs-{suffix}",
            max_receive_count=max_receive_count,
            visibility_timeout_s=visibility_timeout_s,
            upload_events=upload_events,
            cors_origins=cors_origins,
        )

    return make


@pytest.fixture(scope="session")
def queues(make_queues: Callable[..., LocalAws]) -> LocalAws:
    """Shared by in-process API tests, which only ever send."""
    return make_queues()


@pytest.fixture(scope="session")
def test_database_url(clone_database: Callable[[str | None], str]) -> str:
    return clone_database("trident_test")


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "target": "local",
        "database_url": database_url,
        "jwt_signing_keys": json.dumps(TEST_KEYS),
        "jwt_active_kid": "test-1",
        # Cheap hashes keep the suite fast; production parameters are the defaults.
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 1024,
        "argon2_parallelism": 1,
        "register_max_per_window": 10_000,
        "migrate_on_startup": False,
        "metrics_enabled": True,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings_factory(
    test_database_url: str, tmp_path: Path, queues: LocalAws
) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        url = overrides.pop("database_url", test_database_url)
        aws = {
            "aws_endpoint_url": queues.endpoint_url,
            "s3_bucket": queues.bucket,
            "jobs_queue_url": queues.jobs_queue_url,
            "jobs_dlq_url": queues.dead_letter_queue_url,
            "jobs_max_receive_count": 3,
        }
        return make_settings(url, **{**aws, **overrides})

    return factory


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture(scope="session")
async def engine(
    test_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(make_settings(test_database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        await outer.rollback()


@pytest.fixture
def database(engine: AsyncEngine, connection: AsyncConnection) -> Database:
    sessions = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    return Database(engine=engine, sessions=sessions)


@pytest.fixture
def app_factory(
    database: Database, settings_factory: Callable[..., Settings]
) -> Callable[..., Any]:
    def factory(**overrides: Any) -> Any:
        settings = settings_factory(**overrides)
        return create_app(settings, resources=Resources(settings, db=database))

    return factory


@pytest.fixture
def app(app_factory: Callable[..., Any]) -> Any:
    return app_factory()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def register(
    client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/v1/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def auth_headers(client: httpx.AsyncClient) -> dict[str, str]:
    user = await register(client)
    tokens = await login(client, user["email"])
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + slug), body
    return body


class ServerProcess:
    """Uvicorn running our app in a child process, for tests that need real processes."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "app.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env={**os.environ, **env},
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(self.log_path.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def server_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "TARGET": "local",
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "JWT_SIGNING_KEYS": json.dumps(TEST_KEYS),
        "JWT_ACTIVE_KID": "test-1",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "1024",
        "ARGON2_PARALLELISM": "1",
        "MIGRATE_ON_STARTUP": "false",
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env
