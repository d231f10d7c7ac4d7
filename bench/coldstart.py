"""Lambda cold start, measured locally: ``python -m bench coldstart --local --json``.

Builds three bundles the same way (same lock, Python, flags, bytecode): the full app, a
FastAPI + Mangum hello world, and the same-stack floor of the first authenticated read
(``bench/floor_lambda.py``: FastAPI + Mangum + async SQLAlchemy + asyncpg + PyJWT, IAM token
signing). Starts the app and the hello world ``--runs`` times in fresh processes through the
local Lambda emulator, one ``GET /health`` per process, and reports medians. Then the app
and the floor take turns, in fresh processes configured as on AWS (IAM token signing with
dummy credentials) against a local PostgreSQL: init plus the first ``GET /v1/users/me``,
connecting included. Warm latency is measured in-process, on each handler.

Keys of the JSON (other tools read them): app_init_ms, app_first_invoke_ms,
baseline_init_ms, baseline_first_invoke_ms (medians), ratio (app total / baseline total),
app_db_first_request_ms and floor_db_first_request_ms (medians) and db_first_ratio (app /
floor), bundle_mb (app, unzipped), warm_invoke_p50_us (/health), app_warm_read_p50_us and
floor_warm_read_p50_us (``GET /v1/users/me``) and warm_read_ratio, snapstart_init_ms and
snapstart_first_read_ms (medians: the app with SnapStart's hooks run, warm-up, snapshot and
restore in one init, then its first ``GET /v1/users/me``), app_total_runs_ms and
baseline_total_runs_ms (init + first invoke of each run), lambda_python (the runtime's
version: ``--python-version``; all three bundles are built and run with it, so the ratios
compare like with like).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.lambda_emulator import Emulator, http_api_event
from bench.warm_invokes import invoke_warm
from deployment.bytecode import DEFAULT_PYTHON, LAMBDA_PYTHONS
from deployment.lambda_bundle import FUNCTIONS, LAMBDA_LOCK, Bundle, Spec, build
from deployment.lockfile import REPO, read_lock, requirements_for

BASELINE_SOURCE = '''"""FastAPI + Mangum hello world: the floor a FastAPI Lambda cannot go below."""

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


handler = Mangum(app, lifespan="off")
'''

# Dummy credentials: signing an IAM token costs the same with any key.
DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "AKIDBENCHMARK", "AWS_SECRET_ACCESS_KEY": "bench-secret"}
JWT_KEYS = {"bench": "b" * 48}


@dataclass(frozen=True)
class ColdStart:
    app_init_ms: float
    app_first_invoke_ms: float
    baseline_init_ms: float
    baseline_first_invoke_ms: float
    ratio: float
    app_db_first_request_ms: float
    floor_db_first_request_ms: float
    db_first_ratio: float
    bundle_mb: float
    warm_invoke_p50_us: float
    app_warm_read_p50_us: float
    floor_warm_read_p50_us: float
    warm_read_ratio: float
    snapstart_init_ms: float
    snapstart_first_read_ms: float
    app_total_runs_ms: tuple[float, ...] = ()
    baseline_total_runs_ms: tuple[float, ...] = ()
    lambda_python: str = DEFAULT_PYTHON


def lambda_pins(*roots: str) -> list[str]:
    """``roots`` and what they need, pinned as the app's Lambda functions pin them."""
    return requirements_for(read_lock(REPO / LAMBDA_LOCK), roots=roots)


def baseline_spec() -> Spec:
    return Spec(
        name="baseline",
        handler="baseline.handler",
        sources=(),
        requirements=tuple(lambda_pins("fastapi", "mangum")),
        extra_files={"baseline.py": BASELINE_SOURCE},
    )


FLOOR_SOURCE = Path(__file__).with_name("floor_lambda.py")
FLOOR_HANDLER = "floor_lambda.handler"


def floor_spec() -> Spec:
    return Spec(
        name="floor",
        handler=FLOOR_HANDLER,
        sources=(),
        requirements=tuple(lambda_pins("fastapi", "mangum", "sqlalchemy", "asyncpg", "pyjwt")),
        extra_files={
            "floor_lambda.py": FLOOR_SOURCE.read_text(),
            "bench/__init__.py": "",
            "bench/floor_token.py": FLOOR_SOURCE.with_name("floor_token.py").read_text(),
        },
    )


def app_env(**extra: str) -> dict[str, str]:
    """The API function's configuration for the emulator (what CDK would set)."""
    return {
        "TARGET": "lambda",
        "JWT_SIGNING_KEYS": json.dumps(JWT_KEYS),
        "JWT_ACTIVE_KID": "bench",
        "LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "TridentBench",
        **DUMMY_AWS,
        **extra,
    }


@dataclass(frozen=True)
class Function:
    bundle: Path
    handler: str
    env: dict[str, str]


def measure_health(
    functions: list[Function], runs: int, *, python_version: str = DEFAULT_PYTHON
) -> list[tuple[float, float]]:
    """Median (init ms, first-invoke ms) of each function over ``runs`` fresh processes."""
    return [
        (statistics.median(inits), statistics.median(firsts))
        for inits, firsts in measure_health_runs(functions, runs, python_version=python_version)
    ]


def measure_health_runs(
    functions: list[Function], runs: int, *, python_version: str = DEFAULT_PYTHON
) -> list[tuple[list[float], list[float]]]:
    """(init ms, first-invoke ms) of each run of each function, in fresh processes.

    The functions take turns, so a neighbour's load on this shared machine lands on all of
    them alike rather than on whichever happened to run at the time.
    """
    samples: list[tuple[list[float], list[float]]] = [([], []) for _ in functions]
    emulators = [
        Emulator(bundle=f.bundle, handler=f.handler, env=f.env, python_version=python_version)
        for f in functions
    ]
    try:
        for _ in range(runs):
            for emulator, (inits, firsts) in zip(emulators, samples, strict=True):
                inits.append(emulator.start())
                result = emulator.invoke(http_api_event("GET", "/health"))
                if result.error is not None or result.payload.get("statusCode") != 200:
                    raise RuntimeError(f"GET /health failed: {result}\n{emulator.log_tail()}")
                firsts.append(result.ms)
                emulator.stop()
    finally:
        for emulator in emulators:
            emulator.close()
    return samples


def _mint_token(database_url: str, user_id: uuid.UUID) -> str:
    """An access token for the benchmark user, signed with the function's key ring."""
    from app.auth.tokens import TokenIssuer
    from app.config import load_settings

    settings = load_settings(
        target="local",
        database_url=database_url,
        jwt_signing_keys=json.dumps(JWT_KEYS),
        jwt_active_kid="bench",
    )
    return TokenIssuer(settings).issue_access(user_id)


@dataclass(frozen=True)
class DatabaseReads:
    """Medians of the authenticated read, app and floor (see ``measure_db_reads``)."""

    app_first_ms: float
    floor_first_ms: float
    app_warm_us: float
    floor_warm_us: float
    snapstart_init_ms: float
    snapstart_first_read_ms: float


def measure_db_reads(
    app_bundle: Bundle,
    floor_bundle: Bundle,
    runs: int,
    workdir: Path,
    *,
    python_version: str = DEFAULT_PYTHON,
) -> DatabaseReads:
    """Init + first ``GET /v1/users/me`` (IAM token, connect, query) in fresh processes, the
    app and the floor taking turns; then each one's warm p50 of the same read, in-process."""
    from app.local.postgres import database_url, start_postgres
    from app.migrations import upgrade_head
    from bench.lambda_emulator import ensure_runtime

    server = start_postgres(workdir / "pg", cleanup_mode="delete")
    try:
        url = database_url(server)
        upgrade_head(url)
        user_id = uuid.uuid4()
        server.psql(  # a UUID we made: nothing to inject
            "INSERT INTO users (id, email, password_hash) "  # noqa: S608
            f"VALUES ('{user_id}', 'bench@example.com', 'not-a-hash');"
        )
        token = _mint_token(url, user_id)
        socket_dir = url.split("host=", 1)[1].split("&", 1)[0]
        database = {"DB_HOST": socket_dir, "DB_NAME": "postgres", "DB_USER": "postgres"}
        app_function = Function(
            app_bundle.root,
            FUNCTIONS["api"].handler,
            # TLS goes through RDS Proxy on AWS; a Unix socket here.
            app_env(**database, DB_IAM_AUTH="true", DB_SSLMODE="disable"),
        )
        floor_function = Function(
            floor_bundle.root,
            FLOOR_HANDLER,
            {**database, **DUMMY_AWS, "JWT_SIGNING_KEYS": json.dumps(JWT_KEYS)},
        )
        # With SnapStart the runtime warms before the snapshot and restores (our hooks), and
        # reports init as that whole phase: here, init and the first read are kept apart.
        snapstart_function = Function(
            app_function.bundle,
            app_function.handler,
            {**app_function.env, "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"},
        )
        event = http_api_event("GET", "/v1/users/me", headers={"authorization": f"Bearer {token}"})
        # (init ms, first-invoke ms) per run, for the app, the floor and the app under SnapStart.
        samples: list[list[tuple[float, float]]] = [[], [], []]
        functions = (app_function, floor_function, snapstart_function)
        emulators = [
            Emulator(bundle=f.bundle, handler=f.handler, env=f.env, python_version=python_version)
            for f in functions
        ]
        try:
            for _ in range(runs):
                for emulator, runs_of_function in zip(emulators, samples, strict=True):
                    init = emulator.start()
                    result = emulator.invoke(event)
                    if result.error is not None or result.payload.get("statusCode") != 200:
                        raise RuntimeError(
                            f"GET /v1/users/me failed: {result}\n{emulator.log_tail()}"
                        )
                    runs_of_function.append((init, result.ms))
                    emulator.stop()
        finally:
            for emulator in emulators:
                emulator.close()
        totals = [[init + first for init, first in runs] for runs in samples[:2]]
        runtime = ensure_runtime(python_version=python_version)
        app_warm, floor_warm = (
            measure_warm(bundle, runtime, function=function, event=event)
            for bundle, function in ((app_bundle, app_function), (floor_bundle, floor_function))
        )
        return DatabaseReads(
            app_first_ms=statistics.median(totals[0]),
            floor_first_ms=statistics.median(totals[1]),
            app_warm_us=app_warm,
            floor_warm_us=floor_warm,
            snapstart_init_ms=statistics.median(init for init, _ in samples[2]),
            snapstart_first_read_ms=statistics.median(first for _, first in samples[2]),
        )
    finally:
        server.cleanup()


def measure_warm(
    bundle: Bundle,
    runtime: Path,
    *,
    function: Function | None = None,
    event: dict[str, Any] | None = None,
    samples: int = 2000,
) -> float:
    """Median of a handler serving ``event`` (default: the app's /health), in-process, after
    warm-up: the first tenth of ``samples`` (microseconds)."""
    function = function or Function(
        bundle.root,
        FUNCTIONS["api"].handler,
        app_env(DATABASE_URL="postgresql://bench@127.0.0.1:1/bench"),
    )
    warmup = samples // 10
    measured = invoke_warm(
        python=bundle.python,
        paths=[bundle.root, runtime],
        env={**function.env, "AWS_LAMBDA_FUNCTION_NAME": "bench"},
        handler=function.handler,
        events={"warm": (event or http_api_event("GET", "/health"), 200)},
        warmup=warmup,
        invokes=samples - warmup,
    )
    return statistics.median(measured["warm"].samples_ns) / 1000


def importtime(bundle: Path, *, top: int = 20, python_version: str = DEFAULT_PYTHON) -> str:
    """``-X importtime`` of the API handler's init, from ``bundle``, as Lambda would run it:
    the ``top`` modules by own time, and the total."""
    from bench.lambda_emulator import ensure_runtime
    from deployment.bytecode import BOOTSTRAP_PATH, find_python

    runtime = ensure_runtime(python_version=python_version)
    boot = BOOTSTRAP_PATH.format(paths=[str(bundle.resolve()), str(runtime)])
    env = {
        **app_env(DATABASE_URL="postgresql://bench@127.0.0.1:1/bench"),
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9",  # so the import runs the handler's init
        "AWS_LAMBDA_FUNCTION_NAME": "importtime",
    }
    result = subprocess.run(  # noqa: S603
        [
            str(find_python(python_version)),
            "-I",
            "-X",
            "importtime",
            "-c",
            boot + "; import handlers.api",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    rows: list[tuple[int, int, str]] = []
    for line in result.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[0].strip().isdigit():
            rows.append((int(fields[0]), int(fields[1]), fields[2].rstrip()))
    total = sum(own for own, _, _ in rows)
    lines = [f"{'own ms':>8} {'cumul ms':>9}  module   (handlers.api init: {total / 1000:.0f} ms)"]
    for own, cumulative, name in sorted(rows, reverse=True)[:top]:
        lines.append(f"{own / 1000:8.1f} {cumulative / 1000:9.1f}  {name.strip()}")
    return "\n".join(lines)


def run(*, runs: int, db_runs: int, python_version: str = DEFAULT_PYTHON) -> ColdStart:
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        workdir = Path(tmp)
        # One version for all three: a 3.13 app against a 3.12 hello world would measure
        # the interpreters, not the app.
        app_bundle = build(FUNCTIONS["api"], workdir / "api", python_version=python_version)
        baseline = build(baseline_spec(), workdir / "baseline", python_version=python_version)
        env = app_env(DATABASE_URL="postgresql://bench@127.0.0.1:1/bench")
        app_runs, base_runs = measure_health_runs(
            [
                Function(app_bundle.root, FUNCTIONS["api"].handler, env),
                Function(baseline.root, "baseline.handler", {}),
            ],
            runs,
            python_version=python_version,
        )
        (app_init, app_first), (base_init, base_first) = (
            (statistics.median(inits), statistics.median(firsts))
            for inits, firsts in (app_runs, base_runs)
        )
        floor = build(floor_spec(), workdir / "floor", python_version=python_version)
        reads = measure_db_reads(app_bundle, floor, db_runs, workdir, python_version=python_version)
        from bench.lambda_emulator import ensure_runtime

        warm = measure_warm(app_bundle, ensure_runtime(python_version=python_version))
    return ColdStart(
        app_init_ms=round(app_init, 1),
        app_first_invoke_ms=round(app_first, 2),
        baseline_init_ms=round(base_init, 1),
        baseline_first_invoke_ms=round(base_first, 2),
        ratio=round((app_init + app_first) / (base_init + base_first), 3),
        app_db_first_request_ms=round(reads.app_first_ms, 1),
        floor_db_first_request_ms=round(reads.floor_first_ms, 1),
        db_first_ratio=round(reads.app_first_ms / reads.floor_first_ms, 3),
        bundle_mb=round(app_bundle.size.total_mb, 1),
        warm_invoke_p50_us=round(warm, 1),
        app_warm_read_p50_us=round(reads.app_warm_us, 1),
        floor_warm_read_p50_us=round(reads.floor_warm_us, 1),
        warm_read_ratio=round(reads.app_warm_us / reads.floor_warm_us, 3),
        snapstart_init_ms=round(reads.snapstart_init_ms, 1),
        snapstart_first_read_ms=round(reads.snapstart_first_read_ms, 2),
        app_total_runs_ms=tuple(round(i + f, 1) for i, f in zip(*app_runs, strict=True)),
        baseline_total_runs_ms=tuple(round(i + f, 1) for i, f in zip(*base_runs, strict=True)),
        lambda_python=python_version,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench coldstart", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--local", action="store_true", help="measure on this machine (the only mode so far)"
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--db-runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--python-version",
        default=DEFAULT_PYTHON,
        choices=LAMBDA_PYTHONS,
        help="the Lambda runtime's Python: every bundle is built and run with it",
    )
    parser.add_argument(
        "--importtime", type=Path, metavar="BUNDLE", help="only print the handler's import profile"
    )
    args = parser.parse_args(argv)
    if args.importtime is not None:
        sys.stdout.write(importtime(args.importtime, python_version=args.python_version) + "\n")
        return 0
    result = run(runs=args.runs, db_runs=args.db_runs, python_version=args.python_version)
    if args.json:
        sys.stdout.write(json.dumps(asdict(result)) + "\n")
    else:
        for key, value in asdict(result).items():
            sys.stdout.write(f"{key:28} {value}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
