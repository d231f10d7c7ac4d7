"""Gunicorn with our config, two Uvicorn workers, against a database of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.local.aws import free_port
from tests.conftest import REPO, server_env
from tests.test_logging import PASSWORD_SENTINEL, log_entries


@pytest.fixture
def gunicorn(clone_database: Callable[[], str], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = server_env(
        clone_database(),
        tmp_path / "data",
        PORT=str(port),
        HOST="127.0.0.1",
        WEB_CONCURRENCY="2",
        TARGET="ec2",
        DOCS_ENABLED="false",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        LOG_LEVEL="INFO",
    )
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "docker/gunicorn.conf.py"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def scrape_count(client: httpx.Client) -> tuple[float, str]:
    text = client.get("/metrics", headers={"Connection": "close"}).text
    match = re.search(
        r'http_requests_total\{method="GET",route="/v1/users/me",status="401"\} (\S+)', text
    )
    assert match, text
    return float(match.group(1)), text


@pytest.mark.subprocess
def test_metrics_sum_across_workers(gunicorn: str) -> None:
    with httpx.Client(base_url=gunicorn) as client:
        for _ in range(40):
            # A fresh connection each time so both workers get some of the load.
            response = client.get("/v1/users/me", headers={"Connection": "close"})
            assert response.status_code == 401
        # A worker counts a request after its response is sent, so the last count may land
        # a moment after the client has read the response; wait for it once.
        deadline = time.monotonic() + 10
        while scrape_count(client)[0] != 40.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(6):
            count, text = scrape_count(client)
            # Whichever worker answers the scrape, it reports the sum over both.
            assert count == 40.0, text
    assert "db_pool_connections_in_use" in text


@pytest.mark.subprocess
def test_gunicorn_and_app_lines_are_one_json_shape(gunicorn: str, tmp_path: Path) -> None:
    bearer = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZW50aW5lbCJ9.U2VudGluZWw"
    with httpx.Client(base_url=gunicorn) as client:
        login = {"username": "nobody@example.com", "password": PASSWORD_SENTINEL}
        assert client.post("/v1/auth/token", data=login).status_code == 401
        assert client.get("/v1/users/me", headers={"Authorization": bearer}).status_code == 401
    log = tmp_path / "gunicorn.log"
    secrets = {"password": PASSWORD_SENTINEL, "bearer token": bearer.split()[1]}
    deadline = time.monotonic() + 10
    # A worker writes its access line just after the response.
    while len([e for e in log_entries(log.read_text(), secrets) if e["msg"] == "request"]) < 3:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    entries = log_entries(log.read_text(), secrets)
    # Gunicorn's master and Uvicorn's workers write in the app's shape too.
    assert {"gunicorn.error", "uvicorn.error", "app.access"} <= {e["logger"] for e in entries}
    assert not [entry for entry in entries if "color_message" in entry]  # Uvicorn's ANSI copy
