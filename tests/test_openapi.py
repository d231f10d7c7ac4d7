"""The OpenAPI document: valid, versioned, named, exemplified, and true to what the service sends.

The last test drives the real app: every operation of auth and ops through each status it
declares, and every operation through what any of them can meet (bad framing, no token, no
database). It records ``(method, route template, status)`` for each answer and checks that the
document declares it, with the content type, schema and headers the service really sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from openapi_spec_validator import validate
from starlette.types import Receive, Scope, Send

from app.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, problems_as_problem_json
from app.main import create_app
from tests.conftest import PASSWORD

# Document order. A new operation must be added here, under a name chosen on purpose:
# clients generate code from these ids, so renaming one is a breaking change.
OPERATION_IDS = [
    "ops_health",
    "ops_ready",
    "auth_register",
    "auth_token",
    "auth_refresh",
    "auth_logout",
    "users_me",
    "users_delete_me",
    "jobs_create",
    "jobs_list",
    "jobs_get",
    "jobs_retry",
    "files_create",
    "files_list",
    "files_get",
    "files_delete",
    "files_download",
    "files_complete",
]
# The ops, auth and users operations are driven through every status they declare below; the
# others meet the probes every operation gets (bad framing, no token, no database), and their
# own paths are tested with their domain.
FULLY_EXERCISED = {op for op in OPERATION_IDS if op.split("_")[0] in {"ops", "auth", "users"}}
# Load balancers call these at fixed, unversioned paths.
UNVERSIONED_PATHS = {"/health", "/ready"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
PROBLEM_REF = "#/components/schemas/Problem"
# Declared on every operation but only reachable by breaking the service on purpose; the
# real-answers test forces each of them once, not once per operation.
UNFORCED_EVERYWHERE = {"500", "504"}
# Response headers a client acts on; each one sent must be declared on its response.
DOCUMENTED_HEADERS = ("retry-after", "etag")


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        *_, name = schema["$ref"].split("/")
        schema = spec["components"]["schemas"][name]
    return schema


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator (OpenAPI 3.1's dialect) that resolves #/components."""
    root = {**schema, "components": spec["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


def test_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)  # raises with the first error found
    assert spec["openapi"].startswith("3.1")
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_paths_are_versioned_except_ops(spec: dict[str, Any]) -> None:
    paths = set(spec["paths"])
    assert paths >= UNVERSIONED_PATHS
    unversioned = {path for path in paths if not path.startswith("/v1/")}
    assert unversioned == UNVERSIONED_PATHS
    assert not paths & {"/metrics", "/docs", "/openapi.json"}


def test_operations_have_tags_summaries_and_stable_ids(spec: dict[str, Any]) -> None:
    ids = [operation.get("operationId") for _, _, operation in operations(spec)]
    assert ids == OPERATION_IDS
    for path, method, operation in operations(spec):
        assert operation.get("tags"), f"{method.upper()} {path} has no tag"
        assert operation.get("summary"), f"{method.upper()} {path} has no summary"
        # The id names the tag, so generated clients group operations the way the docs do.
        assert operation["operationId"].startswith(operation["tags"][0] + "_")


def test_every_body_schema_has_an_example(spec: dict[str, Any]) -> None:
    def has_example(media: dict[str, Any]) -> bool:
        return bool(
            media.get("example")
            or media.get("examples")
            or resolve(spec, media.get("schema", {})).get("examples")
        )

    missing = []
    for path, method, operation in operations(spec):
        where = f"{method.upper()} {path}"
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if not has_example(media):
                missing.append(f"{where} request {media_type}")
        for status, response in operation["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if not has_example(media):
                    missing.append(f"{where} {status} {media_type}")
    assert not missing, missing


def test_every_problem_is_declared_as_problem_json(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status[:1] not in {"4", "5"}:
                continue
            where = f"{method.upper()} {path} {status}"
            content = response.get("content", {})
            assert list(content) == [PROBLEM_MEDIA_TYPE], where
            assert content[PROBLEM_MEDIA_TYPE]["schema"] == {"$ref": PROBLEM_REF}, where
    # FastAPI's default 422 body is never sent, so it must not be documented either.
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_fastapi_default_422_is_rewritten_as_problem() -> None:
    bare = FastAPI()

    @bare.get("/v1/items")
    async def items(limit: int = 10) -> dict[str, int]:
        return {"limit": limit}

    document = problems_as_problem_json(bare.openapi())
    declared = document["paths"]["/v1/items"]["get"]["responses"]["422"]
    assert declared["content"] == {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    schemas = document["components"]["schemas"]
    assert "Problem" in schemas
    assert "FieldError" in schemas
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    validate(document)


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    template: str | None
    status: int
    media_type: str | None
    headers: httpx.Headers
    body: bytes

    def __str__(self) -> str:
        return f"{self.method} {self.template or self.path} -> {self.status}"


def document_template(spec: dict[str, Any], path: str) -> str | None:
    """The document's path template for a concrete path (for requests refused before routing)."""
    template: str
    for template in spec["paths"]:
        parts = re.split(r"(\{[^/]+?\})", template)
        pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        if re.fullmatch(pattern, path):
            return template
    return None


def concrete(template: str) -> str:
    """A path for the template; every path parameter here is a UUID."""
    return re.sub(r"\{[^/]+?\}", str(uuid.uuid4()), template)


def example_body(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    """httpx keyword arguments sending the operation's documented request example, if any."""
    for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
        example = media.get("example") or resolve(spec, media["schema"])["examples"][0]
        if media_type == "application/x-www-form-urlencoded":
            return {"data": example}
        return {"json": example}
    return {}


class Recorder:
    """httpx clients that write down every answer they receive, from any number of apps.

    The route template is the one the app itself routed the request to (what the access log
    and metrics use); a request refused before routing gets the template its path matches.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.exchanges: list[Exchange] = []
        self._routed: dict[str, str] = {}

    def client(self, app: FastAPI, ip: str = "203.0.113.7") -> httpx.AsyncClient:
        async def traced(scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)
            route = scope.get("route")
            request_id = scope.get("state", {}).get("request_id")
            if route is not None and request_id:
                self._routed[request_id] = route.path

        async def record(response: httpx.Response) -> None:
            body = await response.aread()
            request = response.request
            path = request.url.path
            routed = self._routed.get(response.headers.get("x-request-id", ""))
            content_type = response.headers.get("content-type")
            self.exchanges.append(
                Exchange(
                    method=request.method,
                    path=path,
                    template=routed or document_template(self.spec, path),
                    status=response.status_code,
                    media_type=content_type.split(";")[0].strip() if content_type else None,
                    headers=response.headers,
                    body=body,
                )
            )

        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=traced, client=(ip, 50000)),
            base_url="http://testserver",
            event_hooks={"response": [record]},
        )


def expect(response: httpx.Response, status: int) -> httpx.Response:
    assert response.status_code == status, f"{response.request.url.path}: {response.text}"
    return response


async def exercise_scenarios(
    recorder: Recorder,
    app_factory: Callable[..., FastAPI],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Each of FULLY_EXERCISED's success and failure paths; returns a user's bearer header."""
    email = f"doc-{uuid.uuid4().hex[:10]}@example.com"
    register = "/v1/auth/register"
    token = "/v1/auth/token"
    me = "/v1/users/me"
    refresh = "/v1/auth/refresh"
    logout = "/v1/auth/logout"

    async with recorder.client(app_factory()) as c:
        expect(await c.get("/health"), 200)
        expect(await c.get("/ready"), 200)

        expect(await c.post(register, json={"email": email, "password": PASSWORD}), 201)
        expect(await c.post(register, json={"email": email.upper(), "password": PASSWORD}), 409)
        expect(await c.post(register, json={"email": "weak@example.com", "password": "short"}), 422)
        malformed = {"content-type": "application/json"}
        expect(await c.post(register, content=b'{"email": ', headers=malformed), 422)

        expect(await c.post(token, data={"username": email, "password": "wrong password!"}), 401)
        expect(await c.post(token, data={"username": "nobody@example.com", "password": "x"}), 401)
        expect(await c.post(token, data={"username": email}), 422)
        pair = expect(await c.post(token, data={"username": email, "password": PASSWORD}), 200)
        tokens = pair.json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

        expect(await c.get(me), 401)
        expect(await c.get(me, headers={"Authorization": "Bearer not-a-jwt"}), 401)
        current = expect(await c.get(me, headers=bearer), 200)
        revalidate = {**bearer, "If-None-Match": current.headers["etag"]}
        expect(await c.get(me, headers=revalidate), 304)

        old = {"refresh_token": tokens["refresh_token"]}
        rotated = expect(await c.post(refresh, json=old), 200).json()
        expect(await c.post(refresh, json=old), 401)  # reuse
        expect(await c.post(refresh, json={"refresh_token": "never-issued"}), 401)
        expect(await c.post(refresh, json={}), 422)

        expect(await c.post(logout, json={"refresh_token": rotated["refresh_token"]}), 204)
        expect(await c.post(logout, json={"refresh_token": ""}), 422)

        leaving = f"leaving-{uuid.uuid4().hex[:10]}@example.com"
        expect(await c.post(register, json={"email": leaving, "password": PASSWORD}), 201)
        gone = expect(await c.post(token, data={"username": leaving, "password": PASSWORD}), 200)
        leaver = {"Authorization": f"Bearer {gone.json()['access_token']}"}
        wrong = {"password": "wrong password!"}
        expect(await c.request("DELETE", me, json=wrong, headers=leaver), 401)
        expect(await c.request("DELETE", me, json={}, headers=leaver), 422)
        expect(await c.request("DELETE", me, json={"password": PASSWORD}, headers=leaver), 204)

    # Rate limits, from an address of their own so the failures above do not count.
    limited = app_factory(login_max_failures=1, register_max_per_window=1)
    async with recorder.client(limited, ip="198.51.100.23") as c:
        other = f"limited-{uuid.uuid4().hex[:10]}@example.com"
        expect(await c.post(register, json={"email": other, "password": PASSWORD}), 201)
        expect(await c.post(register, json={"email": "x" + other, "password": PASSWORD}), 429)
        pair = expect(await c.post(token, data={"username": other, "password": PASSWORD}), 200)
        expect(await c.post(token, data={"username": other, "password": "wrong password!"}), 401)
        expect(await c.post(token, data={"username": other, "password": PASSWORD}), 429)
        # Deleting the account asks for the password again, within the same limits.
        theirs = {"Authorization": f"Bearer {pair.json()['access_token']}"}
        again = {"password": PASSWORD}
        expect(await c.request("DELETE", me, json=again, headers=theirs), 429)

    # A body streamed without Content-Length is counted as it arrives.
    async with recorder.client(app_factory(max_body_bytes=1024)) as c:

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b" " * 512

        streamed = await c.post(register, content=chunks(), headers=malformed)
        assert "content-length" not in streamed.request.headers
        expect(streamed, 413)

    # An unexpected exception while serving a real operation.
    broken = app_factory()

    def explode(token: str) -> None:
        raise RuntimeError("forced failure")

    monkeypatch.setattr(broken.state.tokens, "verify_access", explode)
    async with recorder.client(broken) as c:
        expect(await c.get(me, headers=bearer), 500)

    # A request that outlives the request timeout (the slow step touches no database).
    slow = app_factory(request_timeout_s=0.2)

    async def crawl(password: str) -> None:
        await asyncio.sleep(5)

    monkeypatch.setattr(slow.state.passwords, "verify_dummy", crawl)
    async with recorder.client(slow) as c:
        expect(await c.post(token, data={"username": "nobody@example.com", "password": "x"}), 504)

    return bearer


async def exercise_every_operation(
    recorder: Recorder,
    spec: dict[str, Any],
    app_factory: Callable[..., FastAPI],
    settings_factory: Callable[..., Any],
    bearer: dict[str, str],
) -> None:
    """What any operation meets, whatever its own logic: bad framing, no token, no database."""
    async with recorder.client(app_factory(max_body_bytes=1024)) as c:
        for template, method, _ in operations(spec):
            path = concrete(template)
            json_type = {"content-type": "application/json"}
            big = await c.request(method.upper(), path, content=b"x" * 2048, headers=json_type)
            expect(big, 413)
            bad_length = {"content-length": "ten"}
            expect(await c.request(method.upper(), path, headers=bad_length), 400)

    async with recorder.client(app_factory()) as c:
        for template, method, operation in operations(spec):
            if operation.get("security"):
                body = example_body(spec, operation)
                expect(await c.request(method.upper(), concrete(template), **body), 401)

    down = settings_factory(
        database_url="postgresql://postgres@127.0.0.1:1/postgres", ready_timeout_s=1.0
    )
    unreachable = create_app(down)
    try:
        async with recorder.client(unreachable) as c:
            for template, method, operation in operations(spec):
                body = example_body(spec, operation)
                response = await c.request(
                    method.upper(), concrete(template), headers=bearer, **body
                )
                expect(response, 200 if template == "/health" else 503)
    finally:
        await unreachable.state.resources.close()


async def test_declared_responses_match_real_answers(
    spec: dict[str, Any],
    app_factory: Callable[..., FastAPI],
    settings_factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder(spec)
    bearer = await exercise_scenarios(recorder, app_factory, monkeypatch)
    await exercise_every_operation(recorder, spec, app_factory, settings_factory, bearer)

    problem_schema = validator(spec, {"$ref": PROBLEM_REF})
    observed: dict[str, set[str]] = {}
    mismatches: list[str] = []
    for exchange in recorder.exchanges:
        operation = spec["paths"].get(exchange.template or "", {}).get(exchange.method.lower())
        if operation is None:
            mismatches.append(f"{exchange}: no such operation in the document")
            continue
        status = str(exchange.status)
        observed.setdefault(operation["operationId"], set()).add(status)
        declared = operation["responses"].get(status)
        if declared is None:
            mismatches.append(f"{exchange}: status not declared")
            continue

        content = declared.get("content", {})
        if not content:
            if exchange.body:
                mismatches.append(f"{exchange}: body sent, none declared")
        elif exchange.media_type not in content:
            mismatches.append(f"{exchange}: sent {exchange.media_type}, declared {list(content)}")
        else:
            body = json.loads(exchange.body)
            schema = content[exchange.media_type]["schema"]
            for error in validator(spec, schema).iter_errors(body):
                mismatches.append(f"{exchange}: body does not match its schema: {error.message}")

        if exchange.status >= 400:
            if exchange.media_type != PROBLEM_MEDIA_TYPE:
                mismatches.append(f"{exchange}: problem sent as {exchange.media_type}")
                continue
            problem = json.loads(exchange.body)
            for error in problem_schema.iter_errors(problem):
                mismatches.append(f"{exchange}: not a Problem: {error.message}")
            if problem.get("status") != exchange.status:
                mismatches.append(f"{exchange}: problem says status {problem.get('status')}")
            if not str(problem.get("type", "")).startswith(PROBLEM_BASE):
                mismatches.append(f"{exchange}: problem type {problem.get('type')!r}")

        declared_headers = {name.lower() for name in declared.get("headers", {})}
        for header in DOCUMENTED_HEADERS:
            if header in exchange.headers and header not in declared_headers:
                mismatches.append(f"{exchange}: sends {header}, not declared")

    assert not mismatches, "\n".join(mismatches)

    # And the other way round: what these operations declare, the service really answers.
    never_seen = {}
    for _, _, operation in operations(spec):
        if operation["operationId"] not in FULLY_EXERCISED:
            continue
        seen = observed.get(operation["operationId"], set())
        unexplained = set(operation["responses"]) - seen - UNFORCED_EVERYWHERE
        if unexplained:
            never_seen[operation["operationId"]] = sorted(unexplained)
    assert not never_seen, f"declared but never answered: {never_seen}"
    forced = {status for statuses in observed.values() for status in statuses}
    assert forced >= UNFORCED_EVERYWHERE
