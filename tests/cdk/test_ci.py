"""Trident-Ci (``-c github_repo=OWNER/REPO``): GitHub's OIDC provider and the deploy role."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from cdk.main import build_app
from cdk.stacks.ci import CI_STACK_NAME, CiStack
from deployment.settings import DeploySettings, SettingsError
from tests.cdk.conftest import Assembly

ISSUER = "token.actions.githubusercontent.com"
PROVIDER_ARN = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"


def _ci_template(**context: str) -> Template:
    """Trident-Ci alone, for the variations of its knobs (a whole synth costs seconds)."""
    app = App(context=context)
    settings = DeploySettings.from_context(app.node.try_get_context)
    return Template.from_stack(CiStack(app, CI_STACK_NAME, settings=settings))


def _trust_statement(template: Template) -> dict[str, Any]:
    (role,) = template.find_resources("AWS::IAM::Role").values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert isinstance(statement, dict)
    return statement


def test_ci_stack_is_named_per_account(variant: Assembly) -> None:
    """The variant synth has CI on: cdk-nag and cfn-lint check Trident-Ci with every stack
    (tests/cdk/test_checks.py)."""
    assert CI_STACK_NAME == "Trident-Ci"
    assert CI_STACK_NAME in variant.stacks


def test_no_ci_stack_without_github_repo(assembly: Assembly) -> None:
    assert CI_STACK_NAME not in assembly.stacks
    assert all("Ci" not in name for name in assembly.stacks)


def test_creates_githubs_oidc_provider_natively(variant: Assembly) -> None:
    template = variant.template("Ci")
    template.resource_count_is("AWS::IAM::OIDCProvider", 1)
    template.has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {"Url": f"https://{ISSUER}", "ClientIdList": ["sts.amazonaws.com"]},
    )
    # The native resource: no Lambda-backed custom resource in the stack.
    assert template.find_resources("AWS::Lambda::Function") == {}
    assert template.find_resources("Custom::AWSCDKOpenIdConnectProvider") == {}


def test_trust_names_exactly_the_repository(variant: Assembly) -> None:
    statement = _trust_statement(variant.template("Ci"))
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Principal"]["Federated"]) == {"Ref"}  # the provider above
    assert statement["Condition"] == {
        "StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"},
        "StringLike": {f"{ISSUER}:sub": ["repo:acme/trident:*"]},
    }


def test_environments_narrow_the_trust_to_exact_subjects() -> None:
    template = _ci_template(github_repo="acme/trident", github_environments="prod,dev")
    assert _trust_statement(template)["Condition"] == {
        "StringEquals": {
            f"{ISSUER}:aud": "sts.amazonaws.com",
            f"{ISSUER}:sub": [
                "repo:acme/trident:environment:prod",
                "repo:acme/trident:environment:dev",
            ],
        }
    }


def test_an_existing_provider_is_reused_by_arn() -> None:
    template = _ci_template(github_repo="acme/trident", github_oidc_provider_arn=PROVIDER_ARN)
    template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    assert _trust_statement(template)["Principal"] == {"Federated": PROVIDER_ARN}


def test_the_role_can_only_assume_the_cdk_bootstrap_roles(variant: Assembly) -> None:
    template = variant.template("Ci")
    (role,) = template.find_resources("AWS::IAM::Role").values()
    assert "ManagedPolicyArns" not in role["Properties"]
    assert "Policies" not in role["Properties"]
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    names = []
    for arn in statement["Resource"]:
        parts: list[Any] = arn["Fn::Join"][1]
        names.append("".join(p if isinstance(p, str) else p["Ref"] for p in parts))
    assert sorted(names) == sorted(
        f"arn:AWS::Partition:iam::AWS::AccountId:role/cdk-hnb659fds-{kind}-role-"
        "AWS::AccountId-AWS::Region"
        for kind in ("deploy", "file-publishing", "image-publishing", "lookup")
    )


def test_the_role_arn_is_an_output(variant: Assembly) -> None:
    output = variant.json("Ci")["Outputs"]["DeployRoleArn"]
    assert list(output["Value"]) == ["Fn::GetAtt"]
    assert output["Value"]["Fn::GetAtt"][1] == "Arn"
    assert "TRIDENT_DEPLOY_ROLE_ARN" in output["Description"]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"github_repo": "acme"}, "github_repo must be OWNER/REPO"),
        ({"github_repo": "acme/*"}, "github_repo must be OWNER/REPO"),
        ({"github_repo": "acme/trident:ref:refs/heads/main"}, "github_repo must be OWNER/REPO"),
        ({"github_repo": "-acme/trident"}, "github_repo must be OWNER/REPO"),
        (
            {"github_repo": "acme/trident", "github_environments": "prod,*"},
            "github_environments: '\\*'",
        ),
        (
            {"github_repo": "acme/trident", "github_oidc_provider_arn": "arn:aws:iam::1:role/x"},
            "github_oidc_provider_arn must be",
        ),
    ],
)
def test_synth_refuses_a_malformed_repository_or_provider(
    context: dict[str, str], message: str
) -> None:
    app = App(context=context)
    with pytest.raises(SettingsError, match=message):
        build_app(app)
    assert not app.node.children  # nothing was built
