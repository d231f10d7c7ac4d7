"""``.github/workflows``: GitHub's schema, pinned actions, and what the deploy workflow assumes.

The schema check is check-jsonschema's vendored copy of GitHub's workflow schema
(``--builtin-schema``), so it needs no network.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from deployment.bytecode import LAMBDA_PYTHONS
from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))

# `uses: owner/repo[/path]@<40 hex> # v1.2.3`: the SHA is what runs (a tag can be moved), the
# comment says which release it is (and lets Dependabot/Renovate update both together).
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
_PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
_TAG_COMMENT = re.compile(r"\s+#\s+v\d+(\.\d+)*\S*(\s.*)?")


def pin_problems(text: str) -> list[str]:
    """Lines whose action is neither local (``./``) nor pinned to a full commit SHA with its
    release tag in a comment."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _USES.match(line)
        if not match or match["ref"].startswith("./"):
            continue
        if not _PINNED.fullmatch(match["ref"]) or not _TAG_COMMENT.fullmatch(match["rest"]):
            problems.append(f"{number}: {line.strip()}")
    return problems


def _load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    return data


def _check_schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
        + [str(path) for path in paths],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _steps_using(workflow: dict[Any, Any], action: str) -> list[dict[str, Any]]:
    return [
        step
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith(f"{action}@")
    ]


def test_there_are_ci_and_deploy_workflows() -> None:
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "deploy.yml"}


def test_workflows_match_githubs_workflow_schema() -> None:
    result = _check_schema(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: 'true'\n        wiht: {}\n"
    )
    result = _check_schema(broken)
    assert result.returncode == 1
    assert "wiht" in result.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_third_party_action_is_pinned_to_a_commit_with_its_tag(path: Path) -> None:
    text = path.read_text()
    assert pin_problems(text) == []
    # Every `uses:` the YAML holds is one the line check saw (no flow-style step slips by).
    used = [
        str(step["uses"])
        for job in _load(path)["jobs"].values()
        for step in job.get("steps", [])
        if "uses" in step
    ]
    assert used
    seen = [m["ref"] for line in text.splitlines() if (m := _USES.match(line))]
    assert sorted(used) == sorted(seen)


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@v4",
        "      - uses: actions/checkout@v4 # v4.2.2",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af68 # v4.2.2",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # main",
        "      - uses: docker://alpine:3",
    ],
)
def test_the_pin_check_refuses_tags_branches_and_short_shas(line: str) -> None:
    assert pin_problems(line) != []


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
        "    uses: org/repo/path/to/action@11bd71901bbe5b1630ceea73d27597364c9af683 # v1",
        "      - uses: ./.github/actions/local",
    ],
)
def test_the_pin_check_accepts_full_shas_with_a_tag_and_local_actions(line: str) -> None:
    assert pin_problems(line) == []


def test_ci_runs_make_test() -> None:
    ci = _load(REPO / ".github" / "workflows" / "ci.yml")
    runs = [step.get("run", "") for step in ci["jobs"]["test"]["steps"]]
    assert any(run.startswith("make test") for run in runs)
    python = _steps_using(ci, "actions/setup-python")[0]["with"]["python-version"]
    assert python.split()[-1] == "3.11"  # the last one listed is the default `python`


def test_ci_and_deploy_have_every_lambda_python() -> None:
    """The bundle tests of each version run in CI, and a deploy bundles without Docker."""
    for workflow in ("ci.yml", "deploy.yml"):
        steps = _steps_using(
            _load(REPO / ".github" / "workflows" / workflow), "actions/setup-python"
        )
        assert set(LAMBDA_PYTHONS) <= set(steps[0]["with"]["python-version"].split()), workflow


def test_deploy_assumes_the_ci_role_with_oidc_and_deploys_the_chosen_target() -> None:
    deploy = _load(REPO / ".github" / "workflows" / "deploy.yml")
    triggers: dict[str, Any] = deploy.get("on") or deploy[True]  # YAML 1.1: bare `on` is true
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["target"]["options"] == ["lambda", "lambda-mi", "fargate", "ec2"]
    assert inputs["environment"]["options"] == ["dev", "prod"]
    assert triggers["push"]["tags"] == ["v*"]
    assert deploy["permissions"] == {"id-token": "write", "contents": "read"}
    (job,) = deploy["jobs"].values()
    assert job["environment"].startswith("${{ inputs.environment")
    (credentials,) = _steps_using(deploy, "aws-actions/configure-aws-credentials")
    assert credentials["with"]["role-to-assume"] == "${{ vars.TRIDENT_DEPLOY_ROLE_ARN }}"
    assert "aws-region" in credentials["with"]
    assert not any("secrets." in str(value) for value in credentials["with"].values())
    run = job["steps"][-1]["run"]
    assert 'make "deploy-$TARGET"' in run
    # The Makefile passes -c stage and deploys that stage's stacks (Trident-<stage>-*).
    assert 'STAGE="$STAGE"' in run
    makefile = (REPO / "Makefile").read_text()
    for target in inputs["target"]["options"]:
        assert f"deploy-{target}" in makefile
