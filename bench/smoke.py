"""``python -m bench smoke --url URL [--json] [--timeout S]``: prove a running Trident works.

What a real client and the upload page do, against ``make dev`` or any deployed target:
health and readiness; a throwaway account (random email) and its token; ``/v1/users/me``; a
presigned upload POSTed to S3 with the returned fields, after the CORS preflight a browser
sends from the page's origin (the API's); the upload verified by the ``ingest`` job (the S3
event and the worker, not ``/complete``, which would verify in the API and hide a broken event
pipeline); the download and its sha256; an ``export`` job and its CSV; the file deleted; the
account deleted, so a run against production leaves nothing behind.

Bounded by ``--timeout`` overall. One line per step with its duration; ``--json`` prints
``{"url", "ok", "failed_step", "steps": [{"name", "ok", "ms", "detail"}]}``. On failure it
exits 1 naming the step and what it saw (status, problem ``type``, body excerpt), and still
deletes the account it made.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

POLL_S = 0.5
REQUEST_TIMEOUT_S = 10.0
# Deleting the account gets this long even after the deadline: leaving it behind is worse.
CLEANUP_S = 15.0
EXCERPT_CHARS = 200


@dataclass
class Step:
    name: str
    ok: bool
    ms: int
    detail: str


class StepFailed(Exception):
    """The step's check failed; the message says what was seen."""


def seen(response: httpx.Response) -> str:
    """Status, problem type and a body excerpt: what a failed step reports."""
    parts = [f"status {response.status_code}"]
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        with suppress(ValueError):
            parts.append(f"type {response.json().get('type')}")
    body = " ".join(response.text.split())[:EXCERPT_CHARS]
    if body:
        parts.append(f"body {body!r}")
    return ", ".join(parts)


def expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        raise StepFailed(f"{response.request.method} {response.request.url.path}: {seen(response)}")
    return response


class Smoke:
    def __init__(self, url: str, timeout_s: float, say: Callable[[Step], None]) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        # The upload page is served by the API at "/": the browser's origin is the API's.
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.deadline = time.monotonic() + timeout_s
        self.timeout_s = timeout_s
        self.say = say
        self.steps: list[Step] = []
        self.http = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT_S)
        self.storage = httpx.Client(timeout=REQUEST_TIMEOUT_S)  # presigned URLs, no base
        self.email = f"smoke-{uuid.uuid4().hex[:12]}@example.com"
        self.password = secrets.token_urlsafe(18)
        self.headers: dict[str, str] = {}
        self.registered = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Times the block; it appends to the yielded list what the step's line should say."""
        notes: list[str] = []
        started = time.perf_counter()
        try:
            if self.remaining() <= 0:
                raise StepFailed(f"out of time (--timeout {self.timeout_s:g} s)")
            yield notes
        except (StepFailed, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            detail = str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
            self._record(Step(name, False, _ms(started), detail))
            raise StepFailed(name) from exc
        self._record(Step(name, True, _ms(started), "; ".join(notes)))

    def _record(self, step: Step) -> None:
        self.steps.append(step)
        self.say(step)

    def wait_for(self, what: str, poll: Callable[[], tuple[bool, str]], hint: str) -> str:
        """Poll until done or the deadline; the last state seen either way."""
        started = time.monotonic()
        while True:
            done, state = poll()
            if done:
                return state
            if self.remaining() <= POLL_S:
                waited = time.monotonic() - started
                raise StepFailed(f"{what} still {state} after {waited:.1f} s; {hint}")
            time.sleep(POLL_S)

    def run(self) -> bool:
        try:
            self._journey()
            return True
        except StepFailed:
            return False
        finally:
            if self.registered:
                self._leave_nothing_behind()
            self.http.close()
            self.storage.close()

    def _journey(self) -> None:
        with self.step("health") as notes:
            notes.append(expect(self.http.get("/health"), 200).text)
        with self.step("ready") as notes:
            notes.append(expect(self.http.get("/ready"), 200).text)
        with self.step("register") as notes:
            account = {"email": self.email, "password": self.password}
            expect(self.http.post("/v1/auth/register", json=account), 201)
            self.registered = True
            notes.append(self.email)
        with self.step("token"):
            self._log_in()
        with self.step("me") as notes:
            me = expect(self.http.get("/v1/users/me", headers=self.headers), 200).json()
            if me["email"] != self.email:
                raise StepFailed(f"/v1/users/me is {me['email']}, not {self.email}")
            notes.append(me["id"])
        content = f"trident smoke {uuid.uuid4()}\n".encode() * 64
        digest = hashlib.sha256(content).hexdigest()
        with self.step("presign") as notes:
            declared = {"filename": "smoke.txt", "content_type": "text/plain", "size": len(content)}
            created = self._api("POST", "/v1/files", 201, json=declared)
            file_id, upload = created["file_id"], created["upload"]
            notes.append(file_id)
        with self.step("cors-preflight") as notes:
            notes.append(self._preflight(upload["url"]))
        with self.step("upload") as notes:
            # As the page's FormData: every field in order, the file last (S3 ignores what
            # follows it), from the page's origin.
            posted = self.storage.post(
                upload["url"],
                data=upload["fields"],
                files={"file": ("smoke.txt", content, "text/plain")},
                headers={"Origin": self.origin},
            )
            expect(posted, 200, 201, 204)
            notes.append(f"{len(content)} bytes, status {posted.status_code}")
        with self.step("ingest") as notes:
            state = self.wait_for(
                "the upload",
                lambda: self._file_state(file_id),
                "the ingest job runs on a jobs worker, from the bucket's upload event: "
                "is a worker running, and does the bucket notify the jobs queue?",
            )
            notes.append(state)
        with self.step("download") as notes:
            link = self._api("GET", f"/v1/files/{file_id}/download", 200)
            body = expect(self.storage.get(link["url"]), 200).content
            if hashlib.sha256(body).hexdigest() != digest:
                raise StepFailed(f"downloaded {len(body)} bytes whose sha256 is not the upload's")
            notes.append(f"sha256 {digest[:12]}… matches")
        with self.step("export") as notes:
            job = self._api("POST", "/v1/jobs", 202, json={"kind": "export"})
            state = self.wait_for(
                "the export job",
                lambda: self._job_state(job["job_id"]),
                "jobs run on a jobs worker: is one running?",
            )
            notes.append(state)
        with self.step("export-download") as notes:
            result = self._api("GET", f"/v1/jobs/{job['job_id']}", 200)["result"]
            csv = expect(self.storage.get(result["url"]), 200).text
            if digest not in csv:
                raise StepFailed(f"the export does not list the upload: {csv[:EXCERPT_CHARS]!r}")
            notes.append(f"{result['rows']} row(s)")
        with self.step("delete-file"):
            self._api("DELETE", f"/v1/files/{file_id}", 204)
            self._api("GET", f"/v1/files/{file_id}", 404)
        with self.step("delete-user"):
            self._delete_account()

    def _api(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        response = expect(self.http.request(method, path, headers=self.headers, **kwargs), status)
        return response.json() if response.content else None

    def _log_in(self) -> None:
        form = {"username": self.email, "password": self.password}
        pair = expect(self.http.post("/v1/auth/token", data=form), 200).json()
        self.headers = {"Authorization": f"Bearer {pair['access_token']}"}

    def _preflight(self, url: str) -> str:
        """The OPTIONS a browser sends before the page's XHR POST (it listens to upload
        progress, so the request is preflighted); the bucket's CORS must allow it."""
        response = self.storage.options(
            url, headers={"Origin": self.origin, "Access-Control-Request-Method": "POST"}
        )
        expect(response, 200, 204)
        allowed = response.headers.get("access-control-allow-origin")
        methods = response.headers.get("access-control-allow-methods", "")
        if allowed not in {self.origin, "*"} or "POST" not in methods.upper():
            raise StepFailed(
                f"the bucket does not allow POST from {self.origin} (allow-origin {allowed!r}, "
                f"allow-methods {methods!r}): set FILES_CORS_ORIGINS / the stack's domain"
            )
        return f"POST allowed from {self.origin}"

    def _file_state(self, file_id: str) -> tuple[bool, str]:
        record = self._api("GET", f"/v1/files/{file_id}", 200)
        if record["status"] == "rejected":
            raise StepFailed(f"the upload was rejected: {record.get('rejected_reason')}")
        return record["status"] == "ready", record["status"]

    def _job_state(self, job_id: str) -> tuple[bool, str]:
        job = self._api("GET", f"/v1/jobs/{job_id}", 200)
        if job["status"] in {"failed", "dead"}:
            raise StepFailed(f"the export job is {job['status']}: {job.get('error')}")
        return job["status"] == "succeeded", job["status"]

    def _delete_account(self) -> None:
        self._api("DELETE", "/v1/users/me", 204, json={"password": self.password})
        self.registered = False
        self._api("GET", "/v1/users/me", 401)

    def _leave_nothing_behind(self) -> None:
        """After a failed step: delete the account made, whatever state it is in."""
        self.deadline = time.monotonic() + CLEANUP_S
        try:
            with self.step("cleanup-delete-user"):
                if not self.headers:
                    self._log_in()
                self._delete_account()
        except StepFailed:
            pass


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def line(step: Step) -> str:
    mark = "ok  " if step.ok else "FAIL"
    return f"{mark} {step.name:<20} {step.ms:>6} ms  {step.detail}".rstrip()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench smoke", description=__doc__)
    parser.add_argument("--url", required=True, help="the API's base URL")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds for the whole run (default 120)"
    )
    args = parser.parse_args(argv)
    if urlsplit(args.url).scheme not in {"http", "https"} or not urlsplit(args.url).netloc:
        parser.error(f"--url must be an http(s) URL, not {args.url!r}")
    if not 0 < args.timeout <= 3600:
        parser.error("--timeout must be between 0 and 3600 seconds")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)

    def say(step: Step) -> None:
        if not args.json:
            sys.stdout.write(line(step) + "\n")
            sys.stdout.flush()

    smoke = Smoke(args.url, args.timeout, say)
    ok = smoke.run()
    failed = next((s for s in smoke.steps if not s.ok), None)
    if args.json:
        report = {
            "url": smoke.url,
            "ok": ok,
            "failed_step": failed.name if failed else None,
            "steps": [asdict(step) for step in smoke.steps],
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    total = sum(step.ms for step in smoke.steps)
    if ok:
        sys.stderr.write(f"smoke: {smoke.url} works ({len(smoke.steps)} steps, {total} ms)\n")
        return 0
    assert failed is not None
    sys.stderr.write(f"smoke: FAILED at step {failed.name!r}: {failed.detail}\n")
    return 1
