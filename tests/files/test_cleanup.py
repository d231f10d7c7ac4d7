"""Cleanup of never-completed uploads, interrupted deletions and stray objects."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from app.aws import AwsClients
from app.config import Settings
from app.db import Database
from app.files import __main__ as files_cli
from app.files import storage
from app.files.cleanup import cleanup
from app.jobs.periodic import PeriodicTasks
from app.jobs.runtime import JobRuntime
from app.local.aws import LocalAws
from tests.files.conftest import insert_file, insert_user, object_exists, s3_client


@pytest.fixture
def own_bucket(make_queues: Callable[..., LocalAws], settings_factory: Any) -> Settings:
    queues = make_queues()
    settings: Settings = settings_factory(s3_bucket=queues.bucket)
    return settings


async def test_cleanup_expires_purges_and_removes_strays(
    database: Database, own_bucket: Settings
) -> None:
    settings, aws = own_bucket, AwsClients(own_bucket)
    s3, bucket = s3_client(settings.aws.endpoint_url or ""), settings.files.bucket
    user = await insert_user(database)
    day = 24 * 3600
    abandoned = await insert_file(database, user, age_s=2 * day)
    fresh = await insert_file(database, user)
    half_deleted = await insert_file(database, user, status="ready", deleted_ago_s=3600)
    ready = await insert_file(database, user, status="ready")
    for key in (
        storage.incoming_key(user, abandoned),
        storage.incoming_key(user, fresh),
        storage.ready_key(user, half_deleted),
        storage.ready_key(user, ready),
        storage.incoming_key(user, ready),  # left by a crash after the copy
        storage.export_key(user, uuid.uuid4()),
    ):
        s3.put_object(Bucket=bucket, Key=key, Body=b"abc")

    report = await cleanup(db=database, aws=aws, settings=settings)
    assert (report.expired, report.purged, report.stray_objects) == (1, 1, 0)
    async with database.sessions() as session:
        statuses = {
            row.id: row.status for row in await session.execute(text("SELECT * FROM files"))
        }
    assert statuses.get(abandoned) == "rejected"
    assert statuses.get(fresh) == "pending"
    assert half_deleted not in statuses
    assert not object_exists(s3, bucket, storage.incoming_key(user, abandoned))
    assert not object_exists(s3, bucket, storage.ready_key(user, half_deleted))
    assert object_exists(s3, bucket, storage.incoming_key(user, fresh))

    # A day later, the objects no record needs are old enough to go; ready files stay.
    later = await cleanup(
        db=database, aws=aws, settings=settings, now=datetime.now(UTC) + timedelta(days=2)
    )
    assert later.stray_objects == 3  # two upload keys and the export
    assert object_exists(s3, bucket, storage.ready_key(user, ready))
    assert not object_exists(s3, bucket, storage.incoming_key(user, ready))


async def test_the_worker_cleans_up_once_per_interval(
    database: Database, own_bucket: Settings
) -> None:
    runtime = JobRuntime(settings=own_bucket, db=database, aws=AwsClients(own_bucket))
    periodic = PeriodicTasks(runtime)
    user = await insert_user(database)
    await insert_file(database, user, age_s=2 * 24 * 3600)
    first = await periodic.run_due()
    assert first["files-cleanup"]["expired"] == 1
    await insert_file(database, user, age_s=2 * 24 * 3600)
    assert "files-cleanup" not in await periodic.run_due()  # not due for another hour


def test_cleanup_command(
    test_database_url: str, own_bucket: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    env = {
        "DATABASE_URL": test_database_url,
        "AWS_ENDPOINT_URL": own_bucket.aws.endpoint_url or "",
        "S3_BUCKET": own_bucket.files.bucket,
        "LOG_LEVEL": "WARNING",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    files_cli.main(["cleanup"])
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"expired", "purged", "stray_objects"}
