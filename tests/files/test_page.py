"""The upload page as served, the bucket it talks to, and the files schema."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Base
from app.files.cors import bucket_cors_rules, s3_cors_configuration
from app.local.aws import LocalAws
from app.web import WEB_DIR
from tests.files.conftest import s3_client

ORIGIN = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("path", "media_type"),
    [("/", "text/html"), ("/app.js", "text/javascript"), ("/app.css", "text/css")],
)
async def test_page_and_assets_are_served_under_the_strict_csp(
    client: httpx.AsyncClient, path: str, media_type: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "unsafe" not in csp
    assert response.headers["cache-control"] == "no-cache"


def test_page_has_no_inline_script_or_style() -> None:
    html = (WEB_DIR / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="/app.js" defer>']
    assert "<style" not in html
    assert not re.search(r"\sstyle=|\son[a-z]+=", html)  # no style attributes or handlers
    script = (WEB_DIR / "app.js").read_text()
    # Built with the DOM only: nothing user-supplied is ever parsed as HTML.
    assert "innerHTML" not in script
    assert "eval(" not in script
    assert ".style." not in script
    assert {p.name for p in Path(WEB_DIR).iterdir() if p.suffix in {".html", ".js", ".css"}} == {
        "index.html",
        "app.js",
        "app.css",
    }


def test_provisioned_bucket_allows_the_page_and_notifies_the_queue(
    make_queues: Callable[..., LocalAws],
) -> None:
    queues = make_queues(upload_events=True, cors_origins=[ORIGIN])
    s3 = s3_client(queues.endpoint_url)
    rules = s3.get_bucket_cors(Bucket=queues.bucket)["CORSRules"]
    assert [{k: v for k, v in rule.items() if k != "ID"} for rule in rules] == (
        s3_cors_configuration([ORIGIN])["CORSRules"]
    )
    preflight = httpx.options(
        f"{queues.endpoint_url}/{queues.bucket}",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    [notification] = s3.get_bucket_notification_configuration(Bucket=queues.bucket)[
        "QueueConfigurations"
    ]
    assert notification["Events"] == ["s3:ObjectCreated:*"]
    [rule] = notification["Filter"]["Key"]["FilterRules"]
    assert (rule["Name"].lower(), rule["Value"]) == ("prefix", "incoming/")


def test_cors_rules_for_cdk() -> None:
    [rule] = bucket_cors_rules(["https://app.example.com"])
    assert rule.allowed_origins == ("https://app.example.com",)
    assert set(rule.allowed_methods) == {"POST", "GET", "HEAD"}
    assert "ETag" in rule.exposed_headers
    assert bucket_cors_rules([]) == []


async def test_files_table_matches_its_migration(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        changes = compare_metadata(context, Base.metadata)
        return [change for change in changes if "files" in repr(change)]

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []
