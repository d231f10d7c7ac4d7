"""Trident-Ci: GitHub Actions deploys with short-lived credentials (``-c github_repo=OWNER/REPO``).

One per account, whatever the stage: IAM allows one OIDC provider per issuer URL in an account,
so the stack creates GitHub's provider (or reuses one by ARN) and a deploy role that the
repository's workflows assume through it. The role can do nothing itself except assume the CDK
bootstrap roles, which carry the deploy rights ``cdk bootstrap`` already scoped.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import CfnOutput, DefaultStackSynthesizer, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from deployment.settings import DeploySettings, SettingsError

CI_STACK_NAME = "Trident-Ci"
GITHUB_ISSUER = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
# The roles `cdk bootstrap` creates (default qualifier); the CLI assumes them to deploy.
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")

# GitHub's own rules: an owner is 1-39 letters, digits or single hyphens (not first); a
# repository name letters, digits, '.', '-', '_'. No '*' or '?': the trust condition is a
# StringLike, where they would widen it to other repositories.
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
_ENVIRONMENT = re.compile(r"[A-Za-z0-9._-]{1,255}")
_PROVIDER_ARN = re.compile(
    rf"arn:aws[a-z-]*:iam::\d{{12}}:oidc-provider/{re.escape(GITHUB_ISSUER)}"
)


def github_subjects(repo: str, environments: tuple[str, ...]) -> tuple[str, list[str]]:
    """(condition operator, ``sub`` values) a token must match: any ref of ``repo``, or
    exactly its jobs that run in one of ``environments`` (which GitHub can protect with
    reviewers and branch rules)."""
    if not _REPO.fullmatch(repo) or repo.split("/")[1] in (".", ".."):
        raise SettingsError(f"github_repo must be OWNER/REPO (as on GitHub), not {repo!r}")
    if not environments:
        return "StringLike", [f"repo:{repo}:*"]
    for name in environments:
        if not _ENVIRONMENT.fullmatch(name):
            raise SettingsError(
                f"github_environments: {name!r} is not a plain environment name "
                "(letters, digits, '.', '-', '_')"
            )
    return "StringEquals", [f"repo:{repo}:environment:{name}" for name in environments]


class CiStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeploySettings, **kwargs: Any
    ) -> None:
        # Checked before the stack exists: bad knobs leave nothing half-built.
        repo = settings.github_repo
        if not repo:
            raise SettingsError("the CI stack needs github_repo=OWNER/REPO")
        operator, subjects = github_subjects(repo, settings.github_environments)
        arn = settings.github_oidc_provider_arn
        if arn and not _PROVIDER_ARN.fullmatch(arn):
            raise SettingsError(
                "github_oidc_provider_arn must be arn:aws:iam::<account>:oidc-provider/"
                f"{GITHUB_ISSUER}, not {arn!r}"
            )
        super().__init__(scope, construct_id, **kwargs)

        provider: iam.IOidcProvider
        if arn:
            provider = iam.OidcProviderNative.from_oidc_provider_arn(self, "GitHub", arn)
        else:
            # The native AWS::IAM::OIDCProvider, no Lambda-backed custom resource. No
            # thumbprint: IAM trusts GitHub's certificate through its own root CAs.
            provider = iam.OidcProviderNative(
                self,
                "GitHub",
                url=f"https://{GITHUB_ISSUER}",
                client_ids=[GITHUB_AUDIENCE],
            )

        # Merged, not a dict literal: with environments both keys share StringEquals.
        conditions: dict[str, dict[str, Any]] = {
            "StringEquals": {f"{GITHUB_ISSUER}:aud": GITHUB_AUDIENCE}
        }
        conditions.setdefault(operator, {})[f"{GITHUB_ISSUER}:sub"] = subjects
        principal = iam.OpenIdConnectPrincipal(provider, conditions=conditions)
        self.role = iam.Role(
            self,
            "DeployRole",
            assumed_by=principal,
            description=f"GitHub Actions of {repo}: cdk deploy through the bootstrap roles",
            # A first deploy (database, CloudFront) can outlast an hour; the CLI keeps
            # re-assuming the bootstrap roles with these credentials while it waits.
            max_session_duration=Duration.hours(2),
        )
        qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[
                    self.format_arn(
                        service="iam",
                        region="",
                        resource="role",
                        resource_name=f"cdk-{qualifier}-{kind}-role-{self.account}-{self.region}",
                    )
                    for kind in BOOTSTRAP_ROLES
                ],
            )
        )
        CfnOutput(
            self,
            "DeployRoleArn",
            value=self.role.role_arn,
            description="The repository variable TRIDENT_DEPLOY_ROLE_ARN (deploy.yml)",
        )
