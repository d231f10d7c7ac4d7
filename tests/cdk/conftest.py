"""Synthesize the CDK app once per session (each jsii process costs seconds) and share it.

Bundling is skipped (``aws:cdk:bundling-stacks`` empty): assets are fingerprinted from their
sources, so templates are complete without building a Lambda bundle or a Docker image.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import coverage
import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from cdk.main import build_app
from deployment.bytecode import DEFAULT_PYTHON, LAMBDA_PYTHONS

REPO = Path(__file__).resolve().parents[2]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """The CDK app never imports ``app/`` (coverage's only source), so tracing the synth,
    jsii and cfn-lint measures nothing and makes these tests about 60 % slower."""
    measuring = coverage.Coverage.current()
    # A global hook, not a conftest-local one: it sees every test of the session.
    if measuring is None or not item.path.is_relative_to(Path(__file__).parent):
        return (yield)
    measuring.stop()
    try:
        return (yield)
    finally:
        measuring.start()


# A second app: every non-default branch (certificates, arm64, SnapStart, Spot, bigger sizes).
VARIANT_CONTEXT = {
    "profile": "ha",
    "github_repo": "acme/trident",  # Trident-Ci, checked with the rest (nag, cfn-lint)
    "lambda_memory": "1536",
    "lambda_architecture": "arm64",
    # The Lambda Python that is not the default (the runtime, and the bundle built for it).
    "lambda_python": next(v for v in LAMBDA_PYTHONS if v != DEFAULT_PYTHON),
    "lambda_snapstart": "true",
    "lambda_reserved_concurrency": "50",
    "ec2_instance_type": "c6i.xlarge",
    "fargate_worker_spot": "true",
    "ec2_max_instances": "3",  # above the ha profile's minimum of 2
    "db_max_connections": "250",
    "graceful_timeout_s": "50",
    "db_deletion_protection": "false",
    "db_multi_az": "true",
    "sqs_endpoint": "true",
    "files_cors_origins": "https://app.example.com",
    "cors_origins": "https://app.example.com",
    "fargate_domain_name": "api.example.com",
    "fargate_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/fargate",
    "ec2_domain_name": "ec2.example.com",
    "ec2_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/ec2",
    "lambda_deployment": "canary10_5m",
    "lambda_domain_name": "lambda.example.com",
    "lambda_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/lambda",
    # Graviton managed instances, 1 vCPU at 8 GiB, 20 environments x 4 processes (80 <= the
    # proxy's 100 of 250).
    "lambda_mi_architecture": "arm64",
    "lambda_mi_instance_types": "m7g.large,m7g.xlarge",
    "lambda_mi_memory": "8192",
    "lambda_mi_memory_per_vcpu": "8",
    "lambda_mi_max_vcpus": "24",
    "lambda_mi_per_env_concurrency": "4",
    "lambda_mi_min_environments": "4",
    "lambda_mi_max_environments": "20",
    "lambda_mi_domain_name": "mi.example.com",
    "lambda_mi_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/mi",
    "rollback_5xx_count": "3",
    "rollback_p99_ms": "2000",
}


@dataclass
class Assembly:
    """One synthesized app: its stacks, their templates (dict and assertions view)."""

    app: App
    outdir: Path
    error: str | None
    stacks: dict[str, Stack] = field(default_factory=dict)
    _templates: dict[str, Template] = field(default_factory=dict)

    def template(self, suffix: str) -> Template:
        name = f"Trident-{suffix}"
        if name not in self._templates:
            assert self.error is None, self.error
            self._templates[name] = Template.from_stack(self.stacks[name])
        return self._templates[name]

    def json(self, suffix: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.outdir / f"Trident-{suffix}.template.json").read_text()
        )
        return data

    def resources(self, suffix: str, kind: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.json(suffix)["Resources"].items()
            if resource["Type"] == kind
        }

    def user_data(self) -> str:
        """The EC2 user data as text, with CloudFormation references shown as ``<ref>``."""
        (template,) = self.resources("Ec2", "AWS::EC2::LaunchTemplate").values()
        parts = template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
        if isinstance(parts, str):
            return parts
        delimiter: str
        items: list[Any]
        delimiter, items = parts["Fn::Join"]
        return delimiter.join(item if isinstance(item, str) else "<ref>" for item in items)

    def validation_report(self) -> dict[str, Any]:
        path = self.outdir / "validation-report.json"
        if not path.exists():
            return {"pluginReports": []}
        data: dict[str, Any] = json.loads(path.read_text())
        return data


def synthesize(outdir: Path, **context: str) -> Assembly:
    settings = json.loads((REPO / "cdk.json").read_text())["context"]
    app = App(context={**settings, "aws:cdk:bundling-stacks": [], **context}, outdir=str(outdir))
    build_app(app)
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag (or another validation) failed: keep the report
        error = str(exc)
    stacks = {child.node.id: child for child in app.node.children if isinstance(child, Stack)}
    return Assembly(app=app, outdir=outdir, error=error, stacks=stacks)


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synthesize(tmp_path_factory.mktemp("cdk-variant"), **VARIANT_CONTEXT)
