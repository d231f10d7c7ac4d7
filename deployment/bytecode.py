"""The runtime's interpreter, and the bytecode it compiles into a bundle, checked.

Bytecode compiled by an interpreter of the runtime's version, with unchecked-hash
invalidation (timestamps are meaningless in a zip; Lambda's read-only /var/task would
otherwise recompile everything on every cold start), then checked: every module loads from
its .pyc, and every module of the app imports from the bundle alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# The Lambda Python runtimes a bundle can be built for: the one definition the bundler, the
# CDK app (``-c lambda_python``) and the bench choose from.
LAMBDA_PYTHONS = ("3.12", "3.13")
# 3.13: not worse than 3.12 for on-demand cold start, so the default (Lambda Managed
# Instances need 3.13+ anyway). `python -m bench coldstart --local --json --python-version V`,
# 3 alternating runs each, medians 3.12 -> 3.13 (2026-12-03, 2 cores): app init 259.5 ->
# 247.7 ms, hello world 347.3 -> 342.2 ms, ratio 0.749 -> 0.732 (goal <= 1.3); init + first
# authenticated read 874.4 -> 817.6 ms, db_first_ratio 1.169 -> 1.170 (goal <= 1.2);
# warm_read_ratio 1.169 -> 1.086 (goal <= 1.25). README: "Lambda Python".
DEFAULT_PYTHON = "3.13"
TASK_ROOT = "/var/task"  # where Lambda unpacks the code: the path tracebacks show


class BundleError(RuntimeError):
    """The bundle cannot be built as asked; the message says what to do."""


def run_checked(
    args: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603  (fixed argument lists, no shell)
        list(args), capture_output=True, text=True, check=False, env=env
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise BundleError(f"{' '.join(args[:4])} ... failed ({result.returncode}):\n{output}")
    return result


def check_python_version(version: str) -> str:
    """``version`` if a Lambda runtime we build for, else a BundleError naming the choices."""
    if version not in LAMBDA_PYTHONS:
        raise BundleError(
            f"Lambda Python {version!r} is not supported; choose from {', '.join(LAMBDA_PYTHONS)}"
        )
    return version


def _version_of(python: str) -> tuple[str, str] | None:
    """(major.minor, real executable) of a candidate interpreter, or None if it does not run."""
    try:
        result = subprocess.run(  # noqa: S603
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    if result.returncode != 0 or not result.stdout.strip():
        return None
    version, _, executable = result.stdout.strip().partition(" ")
    return version, executable


def _pyenv_candidates(version: str) -> list[str]:
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return []
    root = subprocess.run(  # noqa: S603
        [pyenv, "root"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not root:
        return []
    found = sorted(
        Path(root, "versions").glob(f"{version}.*/bin/python{version}"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.parent.name.split(".")],
        reverse=True,
    )
    return [str(path) for path in found]


def find_python(version: str = DEFAULT_PYTHON) -> Path:
    """The real interpreter (not a pyenv shim) of the runtime's exact minor version."""
    candidates: list[str] = []
    if env := os.environ.get("LAMBDA_PYTHON"):
        candidates.append(env)
    if on_path := shutil.which(f"python{version}"):
        candidates.append(on_path)
    candidates += _pyenv_candidates(version)
    for candidate in candidates:
        found = _version_of(candidate)
        if found and found[0] == version:
            return Path(found[1])
    raise BundleError(
        f"no Python {version} interpreter found (tried LAMBDA_PYTHON, python{version} on PATH, "
        f"pyenv). Install one (`pyenv install {version}`) or set LAMBDA_PYTHON; a bundle "
        "without bytecode of the runtime's version cold-starts about 3x slower, so none is built."
    )


def compile_bytecode(root: Path, python: Path) -> None:
    """Unchecked-hash .pyc files whose code objects name /var/task paths, as on Lambda.

    One process, fixed hash seed: marshal's output depends on the compiling process's
    state (reference counts, set order), so parallel workers make the bytes vary.
    """
    run_checked(
        [
            str(python),
            "-s",  # not -I, which would ignore PYTHONHASHSEED; the environment is ours
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(root),
            "-p",
            TASK_ROOT,
            str(root),
        ],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0"},
    )


def bytecode_identity(python: Path) -> tuple[bytes, str]:
    """(magic number, cache tag) of ``python``: what its .pyc files must carry and be named."""
    code = (
        "import importlib.util, sys; "
        "print(importlib.util.MAGIC_NUMBER.hex(), sys.implementation.cache_tag)"
    )
    magic, tag = run_checked([str(python), "-I", "-c", code]).stdout.split()
    return bytes.fromhex(magic), tag


def check_bytecode(root: Path, python: Path) -> list[str]:
    """Every .py has a .pyc for ``python``'s version, hash-based and never checked at import."""
    magic, tag = bytecode_identity(python)
    problems: list[str] = []
    for source in sorted(root.rglob("*.py")):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if not pyc.exists():
            problems.append(f"missing {pyc.relative_to(root)}")
            continue
        header = pyc.read_bytes()[:8]
        if header[:4] != magic:
            problems.append(f"wrong magic in {pyc.relative_to(root)}")
        elif int.from_bytes(header[4:8], "little") != 0b01:  # hash-based, unchecked
            problems.append(f"not unchecked-hash: {pyc.relative_to(root)}")
    return problems


# The interpreter's own site-packages stay off sys.path: only the bundle (and whatever the
# caller adds, as Lambda adds /var/runtime) may satisfy an import.
BOOTSTRAP_PATH = (
    "import sys; sys.path[:] = {paths!r} + [p for p in sys.path if p and 'site-packages' not in p]"
)


def app_modules(root: Path, handler_module: str) -> list[str]:
    """The handler's module and every module of ``app`` in the bundle: importing them all
    proves that each import at module level finds its dependency in the bundle."""
    modules = [handler_module]
    for path in sorted((root / "app").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__main__" or (
            parts[:2] == ["app", "migrations"] and parts[2:] != ["__init__"]
        ):
            continue  # scripts, and Alembic's env (importing it runs the migrations)
        if parts[-1] == "__init__":
            parts.pop()
        modules.append(".".join(parts))
    return modules


def check_imports(
    root: Path, python: Path, modules: Sequence[str], env: Mapping[str, str]
) -> list[str]:
    """Import ``modules`` from the bundle alone under ``python -v``: each must import, and
    every bundle module must load from its .pyc (a stale or missing one shows as a code
    object built from source)."""
    code = BOOTSTRAP_PATH.format(paths=[str(root)])
    code += f"; import importlib; [importlib.import_module(m) for m in {list(modules)!r}]"
    result = subprocess.run(  # noqa: S603
        [str(python), "-I", "-v", "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **env},
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-15:])
        return [f"importing the bundle's modules failed:\n{tail}"]
    prefix = str(root)
    problems = []
    for line in result.stderr.splitlines():
        if "bytecode is stale" in line or (
            line.startswith("# code object from ")
            and prefix in line
            and not line.rstrip("'").endswith(".pyc")
        ):
            problems.append(line)
    return problems
