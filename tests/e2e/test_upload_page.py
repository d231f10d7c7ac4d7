"""The upload page in a real browser: Debian's headless Chromium driven by Playwright, against
the API (Uvicorn), a jobs worker, PostgreSQL and moto's S3/SQS, all real and local.

A person's path through the page: sign up, upload a 5 MB file and watch its bar reach 100 %,
see it turn ``ready``, download it (same sha256); upload text named ``.png`` and see it
rejected with its reason; run an export and download it. Any console error or CSP violation
fails the test. Never skipped: ``make test`` finds or installs a browser first (.ci/chromium)
and passes it as ``CHROMIUM``; run alone, the test asks the same script.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from app.jobs.runtime import JobRuntime
from app.jobs.worker import Worker
from app.local.aws import LocalAws, free_port
from app.main import create_app
from tests.conftest import PASSWORD, REPO, make_settings

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path("/tmp/trident-upload.png")  # a fixed path the report names
TIMEOUT_MS = 20_000


class LiveStack:
    """The API (Uvicorn) and one jobs worker on one event loop in a background thread."""

    def __init__(self, settings: Any, port: int) -> None:
        self.settings = settings
        self.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="none",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        runtime = JobRuntime.from_settings(self.settings)
        stop = asyncio.Event()
        worker = asyncio.create_task(Worker(runtime, wait_s=1).run(stop))
        try:
            await self.server.serve()
        finally:
            stop.set()
            await worker
            await runtime.close()

    def __enter__(self) -> LiveStack:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive(), "server thread died"
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def live_stack(
    clone_database: Callable[[], str], make_queues: Callable[..., LocalAws], tmp_path: Path
) -> Iterator[LiveStack]:
    port = free_port()
    queues = make_queues(
        upload_events=True, cors_origins=[f"http://127.0.0.1:{port}"], visibility_timeout_s=30
    )
    settings = make_settings(
        clone_database(),
        aws_endpoint_url=queues.endpoint_url,
        s3_bucket=queues.bucket,
        jobs_queue_url=queues.jobs_queue_url,
        jobs_dlq_url=queues.dead_letter_queue_url,
        jobs_sweep_interval_s=3600,
        log_level="WARNING",
    )
    with LiveStack(settings, port) as stack:
        yield stack


@pytest.fixture(scope="module")
def chromium() -> str:
    if path := os.environ.get("CHROMIUM"):
        return path
    found = subprocess.run([REPO / ".ci" / "chromium"], capture_output=True, text=True, check=False)
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


def _download(page: Page, click: Callable[[], None]) -> tuple[str, bytes]:
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_upload_page_end_to_end(live_stack: LiveStack, chromium: str, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(5 * 1024 * 1024))
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"this is text, not a picture\n")

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1100, "height": 800}
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) =>"
            " console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`), true);"
        )
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))

        page.goto(live_stack.base_url)
        page.fill("#email", f"e2e-{os.getpid()}-{time.monotonic_ns()}@example.com")
        page.fill("#password", PASSWORD)
        page.click("#register")
        expect(page.locator("#workspace")).to_be_visible()
        expect(page.locator("#empty")).to_be_visible()

        # A 5 MB upload: the bar reaches 100 %, then the worker or /complete makes it ready.
        page.set_input_files("#file-input", str(photo))
        row = page.locator('#uploads li[data-name="photo.png"]')
        expect(row).to_have_attribute("data-status", "ready")
        expect(row.locator("progress")).to_have_js_property("value", 100)
        expect(row.locator(".percent")).to_have_text("100 %")
        listed = page.locator("#files tbody tr", has_text="photo.png")
        expect(listed.locator("td").nth(2)).to_have_text("ready")
        name, content = _download(page, listed.get_by_role("button", name="Download").click)
        assert name == "photo.png"
        assert hashlib.sha256(content).hexdigest() == hashlib.sha256(photo.read_bytes()).hexdigest()

        # Text declared as a PNG (by its name): rejected, with the reason shown.
        page.set_input_files("#file-input", str(fake))
        rejected = page.locator('#uploads li[data-name="fake.png"]')
        expect(rejected).to_have_attribute("data-status", "rejected")
        expect(rejected.locator(".state")).to_contain_text("the content is not image/png")
        expect(page.locator("#files tbody tr", has_text="fake.png")).to_contain_text("rejected")

        # Export: a CSV manifest of the ready files only.
        page.click("#export")
        link = page.locator("#export-link")
        expect(link).to_contain_text("(1 file)")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        name, manifest = _download(page, link.click)
        assert name.endswith(".csv")
        rows = list(csv.reader(io.StringIO(manifest.decode())))
        assert [row[0] for row in rows] == ["name", "photo.png"]
        assert rows[1][3] == hashlib.sha256(photo.read_bytes()).hexdigest()

        # Deleting from the list removes it.
        page.locator("#files tbody tr", has_text="fake.png").get_by_role(
            "button", name="Delete"
        ).click()
        expect(page.locator("#files tbody tr", has_text="fake.png")).to_have_count(0)
        browser.close()

    assert problems == []
    assert httpx.get(live_stack.base_url + "/health").status_code == 200
