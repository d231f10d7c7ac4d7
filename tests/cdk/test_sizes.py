"""The cloud runs with the sizes ``deployment.sizes`` defines: the app's own ``Settings``, built
from each synthesized function's, task's and instance's environment (references and secrets
stubbed), validates and carries exactly those sizes."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from app.config import Settings, Target, load_settings
from deployment.settings import DeploySettings
from deployment.sizes import ROLES, sized_env
from tests.cdk.conftest import VARIANT_CONTEXT, Assembly

# What CloudFormation fills in at deploy time, and the secrets each target fetches its way.
STUBS = {
    "DB_HOST": "db.internal.example",
    "DB_PASSWORD": "stub-password",
    "S3_BUCKET": "trident-bucket",
    "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
    "JOBS_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs-dlq",
    "JWT_SIGNING_KEYS": json.dumps({"stub": "s" * 40}),
    "AWS_REGION": "us-east-1",
}
# The sizes the app must run with, by Settings field.
# Read by Gunicorn (docker/gunicorn.conf.py), not by the app.
SERVER_ONLY = {"WEB_CONCURRENCY", "GRACEFUL_TIMEOUT"}


def _plain(env: dict[str, Any]) -> dict[str, str]:
    """Values as the process sees them: references and secrets replaced by stubs."""
    return {
        name: value if isinstance(value, str) and "{{resolve:" not in value else STUBS[name]
        for name, value in env.items()
    }


def lambda_environments(assembly: Assembly) -> dict[str, dict[str, str]]:
    functions = assembly.resources("Lambda", "AWS::Lambda::Function").values()
    found = {}
    for function in functions:
        props = function["Properties"]
        if props.get("Handler", "").startswith("handlers."):
            role = "lambda-api" if props["Handler"] == "handlers.api.handler" else "lambda-jobs"
            found[props["Handler"]] = (role, _plain(props["Environment"]["Variables"]))
    assert set(found) == {
        "handlers.api.handler",
        "handlers.jobs.handler",
        "handlers.jobs.housekeeping",
    }
    environments = {f"{handler} ({role})": env for handler, (role, env) in found.items()}
    (managed,) = assembly.resources("LambdaMI", "AWS::Lambda::Function").values()
    environments["managed instances (lambda-mi-api)"] = _plain(
        managed["Properties"]["Environment"]["Variables"]
    )
    return environments


def fargate_environments(assembly: Assembly) -> dict[str, dict[str, str]]:
    tasks = assembly.resources("Fargate", "AWS::ECS::TaskDefinition").values()
    found = {}
    for task in tasks:
        for container in task["Properties"]["ContainerDefinitions"]:
            env = {e["Name"]: e["Value"] for e in container["Environment"]}
            env |= {s["Name"]: STUBS[s["Name"]] for s in container["Secrets"]}
            found[f"fargate-{container['Name']}"] = _plain(env)
    assert set(found) == {"fargate-web", "fargate-worker"}
    return found


def ec2_environments(assembly: Assembly) -> dict[str, dict[str, str]]:
    script = assembly.user_data()

    def env_file(name: str) -> dict[str, str]:
        match = re.search(rf"cat > /etc/trident/{name}\.env <<'ENV'\n(.*?)\nENV\n", script, re.S)
        assert match, name
        return dict(line.split("=", 1) for line in match.group(1).splitlines() if line)

    shared = env_file("app") | {"DB_PASSWORD": "", "JWT_SIGNING_KEYS": ""}
    return {
        f"ec2-{process}": {
            name: STUBS[name] if value in ("", "<ref>") and name in STUBS else value
            for name, value in (shared | env_file(process)).items()
        }
        for process in ("web", "worker")
    }


def app_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.isupper() and name not in ("PATH", "HOME"):
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.mark.parametrize("variant_name", ["default", "variant"])
def test_every_process_runs_with_the_sizes_the_deployment_defines(
    variant_name: str, assembly: Assembly, variant: Assembly, monkeypatch: pytest.MonkeyPatch
) -> None:
    synthesized = assembly if variant_name == "default" else variant
    context: dict[str, str] = {} if variant_name == "default" else VARIANT_CONTEXT
    deploy = DeploySettings.from_context(context.get)
    environments = (
        lambda_environments(synthesized)
        | fargate_environments(synthesized)
        | ec2_environments(synthesized)
    )
    checked = set()
    for process, env in environments.items():
        role = process.split(" (")[-1].rstrip(")") if "(" in process else process
        assert role in ROLES
        intended = sized_env(deploy, role)
        # Every size is set on the process, not left to the app's per-target defaults...
        assert {k: env.get(k) for k in intended} == intended, process
        settings = app_settings(env, monkeypatch)
        assert settings.target is Target(role.split("-")[0])
        # ...and the app reads each one as given.
        for name, value in intended.items():
            if name not in SERVER_ONLY:
                assert str(settings.read(name)) == value, (process, name)
        checked.add(role)
    assert checked == set(ROLES)
