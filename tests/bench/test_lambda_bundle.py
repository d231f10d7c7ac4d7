"""deployment.lambda_bundle: what goes into each function, bytecode checks, deterministic zips."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

from bench.lambda_emulator import Emulator, http_api_event
from deployment.bytecode import (
    DEFAULT_PYTHON,
    LAMBDA_PYTHONS,
    BundleError,
    app_modules,
    bytecode_identity,
    check_bytecode,
    compile_bytecode,
    find_python,
)
from deployment.lambda_bundle import (
    CHECK_ENV,
    FUNCTIONS,
    build,
    locked_requirements,
    main,
    size_report,
    strip,
    write_zip,
)


def names(function: str, *, own_boto3: bool = False) -> set[str]:
    pins = locked_requirements(FUNCTIONS[function], own_boto3=own_boto3)
    return {pin.split("==")[0] for pin in pins}


def test_api_bundle_has_what_the_handler_imports_and_nothing_else() -> None:
    api = names("api")
    assert {"fastapi", "mangum", "sqlalchemy", "greenlet", "asyncpg", "pydantic-core"} <= api
    assert {"aws-lambda-powertools", "pyjwt", "argon2-cffi-bindings", "email-validator"} <= api
    server_side = {"uvicorn", "gunicorn", "uvloop", "httptools", "watchfiles", "prometheus-client"}
    assert not api & (server_side | {"alembic", "mako", "click", "dnspython"})
    # The runtime ships boto3: neither it nor anything only it needs is bundled.
    assert not api & {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six"}
    assert "jmespath" in api  # Powertools imports it too


def test_migrate_bundle_adds_alembic_and_own_boto3_brings_boto3() -> None:
    assert {"alembic", "mako", "markupsafe"} <= names("migrate")
    assert {"boto3", "botocore", "s3transfer"} <= names("api", own_boto3=True)


def test_strip_keeps_imports_and_drops_the_rest(tmp_path: Path) -> None:
    files = [
        "pkg/__init__.py",
        "pkg/tests/test_x.py",
        "pkg/core.pyi",
        "pkg/_speed.pyx",
        "pkg/sub/docs/index.txt",
        "pkg-1.0.dist-info/METADATA",
        "pkg-1.0.dist-info/RECORD",
        "pkg-1.0.dist-info/direct_url.json",
        "tests/keep_top_level.py",
        "big/unused/mod.py",
    ]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    strip(tmp_path, prune=("big/unused",))
    left = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert left == {"pkg/__init__.py", "pkg-1.0.dist-info/METADATA", "tests/keep_top_level.py"}


def test_zip_is_the_same_whatever_the_file_dates(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for name in ("b.py", "a/z.py", "a/b.so"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(name.encode() * 100)
    (source / "a/b.so").chmod(0o755)
    first = write_zip(source, tmp_path / "one.zip")
    for path in source.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    second = write_zip(source, tmp_path / "two.zip")
    assert first == second == hashlib.sha256((tmp_path / "one.zip").read_bytes()).hexdigest()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["a/b.so", "a/z.py", "b.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert [i.external_attr >> 16 & 0o777 for i in infos] == [0o755, 0o644, 0o644]


def test_size_report_groups_by_package(tmp_path: Path) -> None:
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "data.bin").write_bytes(b"0" * 3000)
    (tmp_path / "small.py").write_bytes(b"0" * 10)
    (tmp_path / "big-1.0.dist-info").mkdir()
    (tmp_path / "big-1.0.dist-info" / "METADATA").write_bytes(b"0" * 5)
    report = size_report(tmp_path)
    assert report.total_bytes == 3015
    assert report.packages == [("big", 3000), ("small", 10), ("*.dist-info", 5)]


def test_no_interpreter_of_the_runtime_version_stops_the_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LAMBDA_PYTHON", str(tmp_path / "missing-python"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no python3.x, no pyenv
    with pytest.raises(BundleError, match=r"no Python 3\.99 interpreter found"):
        find_python("3.99")


def test_app_modules_skip_scripts_and_alembic_env(tmp_path: Path) -> None:
    for name in (
        "app/__init__.py",
        "app/main.py",
        "app/jobs/__init__.py",
        "app/jobs/__main__.py",
        "app/migrations/__init__.py",
        "app/migrations/env.py",
        "app/migrations/versions/0001_x.py",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert app_modules(tmp_path, "handlers.api") == [
        "handlers.api",
        "app",
        "app.jobs",
        "app.main",
        "app.migrations",
    ]


def test_bytecode_check_finds_a_module_without_runtime_bytecode(tmp_path: Path) -> None:
    try:
        python = find_python()
    except BundleError as exc:
        pytest.skip(str(exc))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    compile_bytecode(tmp_path, python)
    assert check_bytecode(tmp_path, python) == []
    (tmp_path / "pkg" / "late.py").write_text("VALUE = 2\n")
    _, tag = bytecode_identity(python)
    assert check_bytecode(tmp_path, python) == [f"missing pkg/__pycache__/late.{tag}.pyc"]


def test_a_lambda_python_we_do_not_build_for_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(BundleError, match=r"Lambda Python '3\.11' is not supported; choose from"):
        build(FUNCTIONS["api"], tmp_path / "api", python_version="3.11")
    with pytest.raises(SystemExit):
        main(["--function", "api", "--out", str(tmp_path / "api"), "--python-version", "3.11"])
    assert "invalid choice: '3.11'" in capsys.readouterr().err


OTHER_PYTHON = next(v for v in LAMBDA_PYTHONS if v != DEFAULT_PYTHON)


@pytest.mark.subprocess
def test_the_api_bundle_for_the_other_lambda_python_builds_checks_and_serves(
    tmp_path: Path,
) -> None:
    """The version that is not the default (``-c lambda_python``): its wheels, its bytecode,
    the import check under its interpreter, and a /health served by it in the emulator."""
    try:
        python = find_python(OTHER_PYTHON)
    except BundleError as exc:
        pytest.skip(str(exc))
    bundle = build(
        FUNCTIONS["api"], tmp_path / "api", python_version=OTHER_PYTHON, check_env=CHECK_ENV
    )
    assert bundle.python == python
    _, tag = bytecode_identity(python)
    assert tag == f"cpython-{OTHER_PYTHON.replace('.', '')}"
    assert (bundle.root / "handlers" / "__pycache__" / f"api.{tag}.pyc").is_file()
    assert check_bytecode(bundle.root, python) == []
    # Extension modules are this version's (or the stable ABI's), never another's.
    tagged = [p.name for p in bundle.root.rglob("*.so") if ".cpython-3" in p.name]
    assert tagged
    assert all(f".{tag}-" in name for name in tagged), tagged
    env = {
        "TARGET": "lambda",
        "JWT_SIGNING_KEYS": json.dumps({"k": "k" * 40}),
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing",
    }
    with Emulator(
        bundle=bundle.root,
        handler=FUNCTIONS["api"].handler,
        env=env,
        python_version=OTHER_PYTHON,
    ) as emulator:
        emulator.start()
        result = emulator.invoke(http_api_event("GET", "/health"))
    assert result.error is None, result
    assert result.payload["statusCode"] == 200
