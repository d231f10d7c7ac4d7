"""What the Lambda functions send through RDS Proxy pins no session (as AWS documents pinning).

RDS Proxy multiplexes a client connection between transactions unless a statement changes
session state. Its PostgreSQL list ("Avoiding pinning an RDS Proxy", RDS user guide): SET and
set_config, SQL-level PREPARE/EXECUTE/DEALLOCATE/DISCARD, temporary tables/sequences/views,
declared cursors, LISTEN, LOAD, nextval/setval, session advisory locks, and any statement over
16 KB. Protocol-level (extended query) prepared statements, which asyncpg uses, no longer pin
since RDS Proxy's 2023 extended-query multiplexing; ``DB_STATEMENT_CACHE_SIZE=0`` makes them
unnamed if a deploy's ``DatabaseConnectionsCurrentlySessionPinned`` alarm ever says otherwise.

The server logs every statement of one role (``log_statement``), while the app, on the RDS
Proxy connection path (``DB_IAM_AUTH``: no startup parameters), serves requests and runs jobs
and housekeeping; then no logged statement may match the list.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db import Database
from app.files.cleanup import cleanup
from app.jobs import dlq
from app.jobs.runner import sweep
from tests.conftest import make_settings
from tests.jobs.conftest import JobsStack

PINNING = {
    "SET": re.compile(r"(^|;)\s*(SET|RESET)\b", re.IGNORECASE),
    "set_config": re.compile(r"\bset_config\s*\(", re.IGNORECASE),
    "SQL prepared statements or DISCARD": re.compile(
        r"(^|;)\s*(PREPARE|EXECUTE|DEALLOCATE|DISCARD)\b", re.IGNORECASE
    ),
    "temporary objects": re.compile(r"\bCREATE\s+(TEMP|TEMPORARY)\b", re.IGNORECASE),
    "declared cursors": re.compile(r"\bDECLARE\b[^;]*\bCURSOR\b", re.IGNORECASE),
    "LISTEN or LOAD": re.compile(r"(^|;)\s*(LISTEN|LOAD)\b", re.IGNORECASE),
    "sequence functions": re.compile(r"\b(nextval|setval)\s*\(", re.IGNORECASE),
    "session advisory locks": re.compile(r"\bpg_(try_)?advisory_lock(_shared)?\s*\(", re.I),
}
MAX_STATEMENT_BYTES = 16 * 1024
# One log entry per line start; statement text follows "statement: " (simple protocol) or
# "execute <name>: " (extended protocol, named or <unnamed>).
ENTRY = re.compile(r"^\d{4}-\d\d-\d\d ", re.MULTILINE)
LOGGED = re.compile(r"LOG:\s+(?:statement|execute (\S+?)):\s(.*)", re.DOTALL)


def logged_statements(log: str) -> list[tuple[str | None, str]]:
    """(prepared statement name or None, text) of each statement the server logged."""
    starts = [match.start() for match in ENTRY.finditer(log)] + [len(log)]
    found = []
    for begin, end in itertools.pairwise(starts):
        match = LOGGED.search(log[begin:end])
        if match:
            found.append((match.group(1), match.group(2).strip()))
    return found


async def logging_role(clone_url: str) -> tuple[str, str]:
    """A superuser role whose statements the server logs, and the URL to connect as it."""
    role = f"pin_probe_{uuid.uuid4().hex[:8]}"
    admin = Database.from_settings(make_settings(clone_url))
    try:
        async with admin.autocommit() as connection:
            await connection.execute(text(f"CREATE ROLE {role} LOGIN SUPERUSER"))
            await connection.execute(text(f"ALTER ROLE {role} SET log_statement = 'all'"))
    finally:
        await admin.dispose()
    url = make_url(clone_url).set(username=role)
    return role, url.render_as_string(hide_password=False)


async def test_the_lambda_connection_path_pins_no_proxy_session(
    stack_factory: Callable[..., Awaitable[JobsStack]],
    clone_database: Callable[[], str],
    pg_server: Any,
) -> None:
    log_file = Path(pg_server.pgdata) / "log"
    _, url = await logging_role(clone_database())
    start = log_file.stat().st_size
    stack = await stack_factory(database_url=url, db_iam_auth=True)
    client, headers = stack.client, stack.headers
    assert (await client.get("/v1/users/me", headers=headers)).status_code == 200
    upload = await client.post(
        "/v1/files",
        json={"filename": "a.txt", "content_type": "text/plain", "size": 3},
        headers=headers,
    )
    assert upload.status_code == 201
    complete = await client.post(f"/v1/files/{upload.json()['file_id']}/complete", headers=headers)
    assert complete.status_code == 409  # nothing uploaded: S3 and the row both consulted
    assert (await client.get("/v1/files", headers=headers)).status_code == 200
    for kind in ("sleep", "export"):
        job_id = await stack.submit(kind, {"seconds": 0} if kind == "sleep" else {})
        assert (await stack.until_status(job_id, "succeeded"))["status"] == "succeeded"
    await sweep(stack.runtime)
    await dlq.check(stack.runtime)
    await cleanup(db=stack.runtime.db, aws=stack.runtime.aws, settings=stack.runtime.settings)
    await stack.runtime.db.dispose()

    with log_file.open("rb") as log:
        log.seek(start)
        statements = logged_statements(log.read().decode(errors="replace"))
    texts = [statement for _, statement in statements]
    assert any(t.startswith("INSERT INTO jobs") for t in texts), texts  # the log saw the app
    pinning = [
        f"{reason}: {statement[:200]}"
        for statement in texts
        for reason, pattern in PINNING.items()
        if pattern.search(statement)
    ]
    pinning += [
        f"over 16 KB ({len(t.encode())} bytes): {t[:200]}"
        for t in texts
        if len(t.encode()) > MAX_STATEMENT_BYTES
    ]
    assert pinning == []
    # What a first deploy's pinned-sessions alarm would question: asyncpg names its statements.
    assert any(name and name.startswith("__asyncpg_stmt_") for name, _ in statements)


async def test_statement_cache_off_sends_only_unnamed_statements(
    clone_database: Callable[[], str], pg_server: Any, tmp_path: Path
) -> None:
    log_file = Path(pg_server.pgdata) / "log"
    _, url = await logging_role(clone_database())
    start = log_file.stat().st_size
    database = Database.from_settings(
        make_settings(url, db_iam_auth=True, db_statement_cache_size=0)
    )
    try:
        for _ in range(2):
            async with database.sessions() as session:
                assert await session.scalar(text("SELECT count(*) FROM jobs")) == 0
    finally:
        await database.dispose()
    with log_file.open("rb") as log:
        log.seek(start)
        statements = logged_statements(log.read().decode(errors="replace"))
    assert any(t.startswith("SELECT count(*) FROM jobs") for _, t in statements), statements
    assert {name for name, _ in statements if name} == {"<unnamed>"}
