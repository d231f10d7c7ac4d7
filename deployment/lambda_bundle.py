"""A Lambda deployment package: ``python -m deployment.lambda_bundle --function api --out DIR``.

What CDK's local bundling runs, and what ``make lambda-bundle`` runs. No ``aws_cdk`` import
here: this is a plain command, usable with or without CDK.

- Dependencies: exactly the function's lock (``requirements-lambda.lock``, or
  ``requirements-migrate.lock`` for the migrate function: pyproject.toml's extras, locked by
  ``make lock``), less what it never imports, installed with ``--no-deps`` for the
  runtime's platform and Python version. boto3 is in neither (the runtime ships it);
  ``--own-boto3`` adds it and its dependencies from the containers' lock.
- Stripped: tests, docs, C/Cython sources, type stubs, console scripts, dist-info churn.
- Bytecode compiled by an interpreter of the runtime's version, with unchecked-hash
  invalidation (timestamps are meaningless in a zip; Lambda's read-only /var/task would
  otherwise recompile everything on every cold start), then checked.
- A deterministic zip beside the directory (sorted entries, fixed timestamps and modes).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import stat
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from deployment.bytecode import (
    DEFAULT_PYTHON,
    LAMBDA_PYTHONS,
    BundleError,
    app_modules,
    check_bytecode,
    check_imports,
    check_python_version,
    compile_bytecode,
    find_python,
    run_checked,
)
from deployment.lockfile import REPO, read_lock, requirements_for

GOAL_MB = 40.0

PLATFORMS = {
    # manylinux2014 alone makes pip settle for older releases (asyncpg 0.30, not 0.32).
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
}

LAMBDA_LOCK = "requirements-lambda.lock"
MIGRATE_LOCK = "requirements-migrate.lock"
CONTAINERS_LOCK = "requirements.lock"  # has boto3, for --own-boto3
# dnspython serves email-validator's deliverability check (DNS lookups), which pydantic's
# EmailStr never asks for.
NEVER_IMPORTED = frozenset({"dnspython"})

# Parts of dependencies that none of our imports reach (the post-build import check and the
# emulator tests would say otherwise). About 9 MB: what keeps the API bundle under 40 MB.
_POWERTOOLS_UNUSED = tuple(
    f"aws_lambda_powertools/{part}"
    for part in (
        "event_handler",
        "utilities/auth_alpha",
        "utilities/circuit_breaker",
        "utilities/data_masking",
        "utilities/feature_flags",
        "utilities/idempotency",
        "utilities/kafka",
        "utilities/parameters",
        "utilities/streaming",
        "utilities/validation",
    )
)
_TEST_SUPPORT = ("sqlalchemy/testing", "sqlalchemy/ext/mypy", "asyncpg/_testbase")
# Alembic's DDL layer imports every dialect; the API and the worker only speak PostgreSQL.
_OTHER_DIALECTS = tuple(
    f"sqlalchemy/dialects/{name}" for name in ("mssql", "mysql", "oracle", "sqlite")
)

_STRIP_DIRS = frozenset({"tests", "test", "docs", "doc", "examples", "benchmarks", "__pycache__"})
_STRIP_SUFFIXES = (".pyi", ".pyx", ".pxd", ".pxi", ".c", ".h", ".cpp", ".hpp")
_STRIP_DIST_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Spec:
    """What goes into one function's package."""

    name: str
    handler: str
    lock: str = LAMBDA_LOCK  # the pins it installs, a file at the repo's root
    drop: frozenset[str] = NEVER_IMPORTED  # pins of the lock the function never imports
    prune: tuple[str, ...] = ()  # installed paths to remove
    sources: tuple[str, ...] = ("app", "handlers")  # repo paths copied as they are
    exclude: tuple[str, ...] = ()  # repo paths left out of ``sources``
    extra_files: Mapping[str, str] = field(default_factory=dict)  # path -> text
    requirements: tuple[str, ...] | None = None  # explicit pins instead of the lock


_API = Spec(
    name="api",
    handler="handlers.api.handler",
    prune=_TEST_SUPPORT + _OTHER_DIALECTS + _POWERTOOLS_UNUSED,
    exclude=("app/local", "app/migrations"),
)
FUNCTIONS: dict[str, Spec] = {
    "api": _API,
    # The same files as the API's (the handler differs): CDK may well share one asset.
    "jobs": replace(_API, name="jobs", handler="handlers.jobs.handler"),
    "migrate": Spec(
        name="migrate",
        handler="handlers.migrate.handler",
        lock=MIGRATE_LOCK,
        prune=_TEST_SUPPORT + _POWERTOOLS_UNUSED,
        exclude=("app/local",),
    ),
}


def locked_requirements(spec: Spec, *, own_boto3: bool = False, repo: Path = REPO) -> list[str]:
    """The pins of the function's lock it imports (and boto3's, with ``own_boto3``)."""
    pins = {
        f"{name}=={pin.version}"
        for name, pin in read_lock(repo / spec.lock).items()
        if name not in spec.drop
    }
    if own_boto3:
        containers = read_lock(repo / CONTAINERS_LOCK)
        pins |= set(requirements_for(containers, roots=("boto3",)))
    return sorted(pins)


def pip_install(
    requirements: Sequence[str], target: Path, *, arch: str, python_version: str
) -> None:
    """Wheels only, for the runtime's platform and Python, exactly the pins given."""
    if not requirements:
        return
    platforms = [arg for tag in PLATFORMS[arch] for arg in ("--platform", tag)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(requirements) + "\n")
    try:
        run_checked(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-compile",
                "--only-binary=:all:",
                *platforms,
                "--python-version",
                python_version,
                "--implementation",
                "cp",
                "--target",
                str(target),
                "-r",
                handle.name,
            ]
        )
    finally:
        os.unlink(handle.name)
    # Console scripts carry this machine's interpreter path in their shebang.
    shutil.rmtree(target / "bin", ignore_errors=True)


def strip_debug_symbols(root: Path) -> int:
    """``strip --strip-debug`` every extension module: several wheels (asyncpg, SQLAlchemy's
    Cython parts) ship DWARF that triples their size and is never read at run time. Returns
    how many files were stripped (0 without binutils, which only costs size)."""
    tool = shutil.which("strip")
    libraries = sorted(str(path) for path in root.rglob("*.so*") if path.is_file())
    if tool is None or not libraries:
        return 0
    run_checked([tool, "--strip-debug", *libraries])
    return len(libraries)


def strip(root: Path, prune: Iterable[str] = ()) -> None:
    """Drop what no import needs. Top-level entries are never removed wholesale."""
    for part in prune:
        target = root / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for path in sorted(root.rglob("*"), reverse=True):
        if not path.exists() or path.parent == root:
            continue
        if path.is_dir() and path.name in _STRIP_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and (
            path.suffix in _STRIP_SUFFIXES
            or (path.parent.name.endswith(".dist-info") and path.name in _STRIP_DIST_INFO)
        ):
            path.unlink()


def copy_sources(spec: Spec, out: Path, repo: Path = REPO) -> None:
    excluded = {(repo / item).resolve() for item in spec.exclude}
    for source in spec.sources:
        base = repo / source
        for path in sorted(base.rglob("*")):
            if (
                path.is_dir()
                or "__pycache__" in path.parts
                or path.suffix == ".pyc"
                or any(path.resolve().is_relative_to(ex) for ex in excluded)
            ):
                continue
            dest = out / path.relative_to(repo)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    for name, text in spec.extra_files.items():
        dest = out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)


def write_zip(root: Path, dest: Path) -> str:
    """Same files in, same bytes out: sorted names, fixed dates and modes. Returns sha256."""
    files = sorted(
        (p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix()
    )
    tmp = dest.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_EPOCH)
            mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the build host
            archive.writestr(info, path.read_bytes())
    tmp.replace(dest)
    return hashlib.sha256(dest.read_bytes()).hexdigest()


@dataclass(frozen=True)
class SizeReport:
    total_bytes: int
    packages: list[tuple[str, int]]  # largest first

    @property
    def total_mb(self) -> float:
        return self.total_bytes / 1_000_000


def size_report(root: Path) -> SizeReport:
    sizes: dict[str, int] = {}
    for path in root.rglob("*"):
        if path.is_file():
            top = path.relative_to(root).parts[0]
            if top.endswith(".dist-info"):
                top = "*.dist-info"
            elif top.endswith((".py", ".so")):
                top = top.split(".")[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    ranked = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))
    return SizeReport(total_bytes=sum(sizes.values()), packages=ranked)


@dataclass(frozen=True)
class Bundle:
    spec: Spec
    root: Path
    zip_path: Path | None
    sha256: str | None
    size: SizeReport
    python: Path
    requirements: list[str]

    def describe(self) -> str:
        mb = self.size.total_mb
        verdict = "ok" if mb <= GOAL_MB else "OVER"
        lines = [
            f"bundle {self.spec.name} ({self.spec.handler}): {mb:.1f} MB unzipped "
            f"(goal <= {GOAL_MB:.0f} MB: {verdict}), bytecode by {self.python}",
        ]
        if self.zip_path is not None:
            zipped = self.zip_path.stat().st_size / 1_000_000
            lines.append(f"  zip {self.zip_path} {zipped:.1f} MB sha256 {self.sha256}")
        lines.append("  ten largest:")
        lines += [
            f"    {name:<28} {size / 1_000_000:6.2f} MB" for name, size in self.size.packages[:10]
        ]
        return "\n".join(lines)


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        # Never wipe a directory we did not make (a typo in --out must not cost anyone data).
        if not any(out.glob("*.dist-info")) and not (out / "handlers").is_dir():
            raise BundleError(
                f"{out} is not empty and does not look like a bundle; refusing to wipe it"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def build(
    spec: Spec,
    out: Path,
    *,
    arch: str = "x86_64",
    python_version: str = DEFAULT_PYTHON,
    own_boto3: bool = False,
    zip_path: Path | None = None,
    check_env: Mapping[str, str] | None = None,
    repo: Path = REPO,
) -> Bundle:
    """Build ``spec`` into ``out`` (emptied first); zip it to ``zip_path`` if given.

    ``check_env`` is the environment the post-build import check runs the handler
    module with (its init must succeed from the bundle alone); None skips that check.
    """
    if arch not in PLATFORMS:
        raise BundleError(f"unknown arch {arch!r}; one of {', '.join(PLATFORMS)}")
    python = find_python(check_python_version(python_version))
    requirements = (
        list(spec.requirements)
        if spec.requirements is not None
        else locked_requirements(spec, own_boto3=own_boto3, repo=repo)
    )
    out = out.resolve()
    _prepare_out(out)
    pip_install(requirements, out, arch=arch, python_version=python_version)
    strip(out, spec.prune)
    strip_debug_symbols(out)
    copy_sources(spec, out, repo)
    compile_bytecode(out, python)
    problems = check_bytecode(out, python)
    if check_env is not None and not problems:
        modules = app_modules(out, spec.handler.rpartition(".")[0])
        problems = check_imports(out, python, modules, check_env)
    if problems:
        raise BundleError("bytecode check failed:\n  " + "\n  ".join(problems[:20]))
    sha = write_zip(out, zip_path) if zip_path is not None else None
    return Bundle(spec, out, zip_path, sha, size_report(out), python, requirements)


# Enough for each handler module's init to run (settings validate; nothing connects).
CHECK_ENV = {
    "TARGET": "lambda",
    "DATABASE_URL": "postgresql://check@127.0.0.1:1/check",
    "JWT_SIGNING_KEYS": '{"check": "' + "c" * 40 + '"}',
    "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/check",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "bundle-check",
    "POWERTOOLS_METRICS_NAMESPACE": "Trident",
    "LOG_LEVEL": "WARNING",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9",  # handlers.api then runs its init as on Lambda
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deployment.lambda_bundle", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--function", required=True, choices=sorted(FUNCTIONS))
    parser.add_argument("--out", required=True, type=Path, help="bundle directory (emptied first)")
    parser.add_argument("--arch", default="x86_64", choices=sorted(PLATFORMS))
    parser.add_argument("--python-version", default=DEFAULT_PYTHON, choices=LAMBDA_PYTHONS)
    parser.add_argument(
        "--own-boto3", action="store_true", help="bundle boto3 instead of the runtime's"
    )
    parser.add_argument(
        "--no-zip", action="store_true", help="only the directory (CDK zips it itself)"
    )
    parser.add_argument(
        "--no-import-check", action="store_true", help="skip the python -v import check"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    zip_path = None if args.no_zip else out.resolve().with_name(out.resolve().name + ".zip")
    try:
        bundle = build(
            FUNCTIONS[args.function],
            out,
            arch=args.arch,
            python_version=args.python_version,
            own_boto3=args.own_boto3,
            zip_path=zip_path,
            check_env=None if args.no_import_check else CHECK_ENV,
        )
    except BundleError as exc:
        sys.stderr.write(f"lambda_bundle: {exc}\n")
        return 1
    sys.stdout.write(bundle.describe() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
