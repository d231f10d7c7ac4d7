"""Import direction (ARCHITECTURE, import rules): the jobs core knows no domain; the bench
and the deployment package know nothing of the CDK app."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

APP = REPO / "app"


def imported_modules(path: Path, package: str = "app") -> set[str]:
    """Every ``package.…`` module a file imports, at any depth (lazy imports in functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == package or name.startswith(f"{package}.")}


def domains() -> set[str]:
    """The packages that plug into the jobs core: they import its registry."""
    return {
        f"app.{package.name}"
        for package in APP.iterdir()
        if package.is_dir()
        and package.name != "jobs"
        and any("app.jobs.registry" in imported_modules(p) for p in package.rglob("*.py"))
    }


def test_the_jobs_core_imports_no_domain() -> None:
    plugged_in = domains()
    assert "app.files" in plugged_in  # the rule below has something to hold
    forbidden = plugged_in | {"app.domains", "app.main", "app.worker"}
    offenders = {
        f"{path.relative_to(REPO)} imports {name}"
        for path in (APP / "jobs").rglob("*.py")
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    }
    assert not offenders


def test_every_domain_is_composed() -> None:
    """A domain left out of app.domains would have its jobs marked dead as unknown kinds."""
    composed = imported_modules(APP / "domains.py")
    assert {d for d in domains() if not any(m.startswith(d) for m in composed)} == set()


def test_the_bench_and_the_deployment_package_import_nothing_from_cdk() -> None:
    offenders = {
        f"{path.relative_to(REPO)} imports {name}"
        for folder in ("bench", "deployment")
        for path in (REPO / folder).rglob("*.py")
        for package in ("cdk", "aws_cdk")
        for name in imported_modules(path, package)
    }
    offenders |= {
        f"{path.relative_to(REPO)} imports {name}"
        for path in (REPO / "deployment").rglob("*.py")
        for name in imported_modules(path, "app")
    }
    assert not offenders
