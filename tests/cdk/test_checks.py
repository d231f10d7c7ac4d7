"""cdk-nag, cfn-lint, hadolint and the packaging contracts around the CDK app."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, DockerImage, Validations

from cdk.components import bundling
from cdk.components.bundling import LocalBundler, build_image
from cdk.lint import lint_assembly
from cdk.main import build_app
from deployment.bytecode import BundleError
from deployment.settings import SettingsError
from tests.cdk.conftest import REPO, Assembly


def _errors(assembly: Assembly) -> list[str]:
    return [
        f"{violation['ruleName']} at {construct['constructPath']}"
        for plugin in assembly.validation_report()["pluginReports"]
        for violation in plugin["violations"]
        if violation["severity"] == "error"
        for construct in violation["violatingConstructs"]
    ]


def test_cdk_nag_finds_no_unacknowledged_errors(assembly: Assembly, variant: Assembly) -> None:
    targets = {
        "Trident-Shared",
        "Trident-Lambda",
        "Trident-LambdaMI",
        "Trident-Fargate",
        "Trident-Ec2",
    }
    for which, stacks in ((assembly, targets), (variant, {*targets, "Trident-Ci"})):
        assert which.error is None, which.error
        assert _errors(which) == []
        assert set(which.stacks) == stacks


def test_every_acknowledgment_gives_its_reason(assembly: Assembly) -> None:
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    ours = {}
    for construct in assembly.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                for rule, reason in dict(entry.data).items():
                    if "AwsSolutions-" in rule:
                        ours[f"{construct.node.path} {rule}"] = reason
    assert ours, "expected the documented cdk-nag acknowledgments"
    short = {where: reason for where, reason in ours.items() if len(str(reason)) < 30}
    assert short == {}


@pytest.mark.parametrize("which", ["assembly", "variant"])
def test_cfn_lint_passes_every_template(which: str, request: pytest.FixtureRequest) -> None:
    synthesized: Assembly = request.getfixturevalue(which)
    report = lint_assembly(synthesized.outdir)
    assert set(report.resources) == set(synthesized.stacks)
    assert report.failures == []


def test_synth_refuses_sizing_that_can_exhaust_the_database() -> None:
    app = App(context={"fargate_max_tasks": "20", "ec2_max_instances": "6"})
    with pytest.raises(SettingsError, match="connection budget exceeded") as caught:
        build_app(app)
    assert "fargate web 200" in str(caught.value)
    assert "ec2 web 60" in str(caught.value)
    assert not app.node.children  # nothing was built


def test_cli_prints_one_clear_line_when_the_budget_is_exceeded() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cdk.main"],
        cwd=REPO,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps({"fargate_max_tasks": "20"})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Trident settings: connection budget exceeded")
    assert "Traceback" not in result.stderr


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, str(REPO / "docker" / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (REPO / "docker" / "Dockerfile").read_text()
    assert text.count("FROM python:3.12-slim") == 2
    assert "--no-index" in text
    assert "\nUSER 10001" in text
    assert "\nHEALTHCHECK " in text
    assert 'CMD ["gunicorn", "-c", "docker/gunicorn.conf.py"]' in text


def test_ec2_units_point_at_files_that_exist() -> None:
    ec2 = REPO / "docker" / "ec2"
    for unit in ("trident-web.service", "trident-worker.service", "trident-secrets.service"):
        text = (ec2 / unit).read_text()
        for line in text.splitlines():
            if line.startswith("ExecStart=/opt/trident/src/"):
                assert (REPO / line.removeprefix("ExecStart=/opt/trident/src/")).exists()
    assert "gunicorn -c docker/gunicorn.conf.py" in (ec2 / "trident-web.service").read_text()
    assert "python -m app.worker" in (ec2 / "trident-worker.service").read_text()


def test_local_bundling_runs_the_bundle_script_for_the_function() -> None:
    bundler = LocalBundler(function="jobs", architecture="arm64", python_version="3.13")
    assert bundler.command("/out")[1:] == [
        "-m",
        "deployment.lambda_bundle",
        "--function",
        "jobs",
        "--arch",
        "arm64",
        "--python-version",
        "3.13",
        "--out",
        "/out",
        "--no-zip",
    ]
    assert build_image("3.13") == "public.ecr.aws/sam/build-python3.13"


def test_cli_runs_the_app_as_a_module_with_a_pinned_cli() -> None:
    assert json.loads((REPO / "cdk.json").read_text())["app"] == "python -m cdk.main"
    package = json.loads((REPO / "package.json").read_text())
    assert package["devDependencies"]["aws-cdk"].startswith("^2.")
    lock = json.loads((REPO / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"].startswith("2.")


def test_without_the_runtime_python_bundling_falls_back_to_docker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_python(version: str) -> Path:
        raise BundleError(f"no Python {version} interpreter found")

    monkeypatch.setattr(bundling, "find_python", no_python)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    local = LocalBundler(function="api", architecture="x86_64", python_version="3.13")
    ran: list[object] = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: ran.append(a))
    # False: CDK then runs the bundling command in the build image (which has 3.13).
    image = DockerImage.from_registry(build_image("3.13"))
    assert local.try_bundle("/out", image=image) is False
    assert ran == []
    err = capsys.readouterr().err
    assert "no Python 3.13 interpreter found" in err
    assert "Bundling the api function in Docker (public.ecr.aws/sam/build-python3.13)" in err


def test_without_python_or_docker_synth_stops_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_python(version: str) -> Path:
        raise BundleError(f"no Python {version} interpreter found")

    monkeypatch.setattr(bundling, "find_python", no_python)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    local = LocalBundler(function="api", architecture="x86_64", python_version="3.12")
    with pytest.raises(BundleError, match="docker is not on PATH either"):
        local.try_bundle("/out", image=DockerImage.from_registry(build_image("3.12")))


def test_the_docker_fallback_runs_the_same_bundle_script_in_the_build_image() -> None:
    options = bundling.bundling_options(
        function="jobs", architecture="arm64", python_version="3.13"
    )
    assert options.image.image == "public.ecr.aws/sam/build-python3.13"
    assert options.platform == "linux/arm64"
    assert options.command == [
        "bash",
        "-c",
        "python3 -m deployment.lambda_bundle --function jobs --arch arm64 --python-version 3.13"
        " --out /asset-output --no-zip",
    ]
    assert options.environment is not None
    assert options.environment["TRIDENT_PYTHON"] == "3.13"  # in the asset hash
