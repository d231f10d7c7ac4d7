"""The CDK app: ``npx cdk synth`` / ``npx cdk deploy Trident-Shared Trident-Lambda`` (cdk.json).

Stacks are environment-agnostic: account and region come from the CLI's credentials at
deploy. cdk-nag's AwsSolutions pack validates every stack at synth.
"""

from __future__ import annotations

import sys

from aws_cdk import Annotations, App, Stack, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from cdk.components.nag import acknowledge_cdk_providers
from cdk.stacks.ci import CI_STACK_NAME, CiStack
from cdk.stacks.ec2 import Ec2Stack
from cdk.stacks.fargate import FargateStack
from cdk.stacks.lambda_ import LambdaStack
from cdk.stacks.lambda_mi import LambdaMiStack
from cdk.stacks.shared import SharedStack
from cdk.stacks.target import TargetStack
from deployment.settings import DeploySettings, SettingsError

# target -> (stack class, stack name suffix, description)
TARGET_STACKS: dict[str, tuple[type[TargetStack], str, str]] = {
    "lambda": (LambdaStack, "Lambda", "on AWS Lambda: HTTP API, functions"),
    "lambda-mi": (
        LambdaMiStack,
        "LambdaMI",
        "on Lambda Managed Instances: HTTP API, capacity provider, API function",
    ),
    "fargate": (FargateStack, "Fargate", "on Fargate: web and worker services behind HTTPS"),
    "ec2": (Ec2Stack, "Ec2", "on EC2: Auto Scaling group behind HTTPS"),
}


def build_app(app: App | None = None, *, nag: bool = True) -> App:
    """Add Trident's stacks (and cdk-nag) to ``app``; settings come from its context."""
    app = app or App()
    settings = DeploySettings.from_context(app.node.try_get_context)
    settings.check_connection_budget()
    prefix = settings.stack_prefix
    stacks: list[Stack] = []
    if settings.github_repo:
        # Per account, not per stage (one GitHub OIDC provider per account): no prefix.
        # First, so a malformed repository stops synth before anything else is built.
        stacks.append(
            CiStack(
                app,
                CI_STACK_NAME,
                settings=settings,
                description="Trident CI: GitHub OIDC provider and the deploy role",
            )
        )
    shared = SharedStack(
        app,
        f"{prefix}-Shared",
        settings=settings,
        description="Trident shared: VPC, PostgreSQL, RDS Proxy, S3, SQS, secrets, migrations",
    )
    stacks.append(shared)
    for target in settings.targets:
        kind, name, description = TARGET_STACKS[target]
        stacks.append(
            kind(app, f"{prefix}-{name}", shared=shared, description=f"Trident {description}")
        )
    # CloudFormation's schema has no Tags on proxy target groups (CDK would add them).
    Tags.of(app).add("project", "trident", exclude_resource_types=["AWS::RDS::DBProxyTargetGroup"])
    for stack in stacks:
        acknowledge_cdk_providers(stack)
    Annotations.of(app).acknowledge_warning(
        "@aws-cdk/aws-ec2:ipv4IgnoreEgressRule",
        "allow_to() also adds an egress rule; these groups already allow all outbound",
    )
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> None:
    try:
        app = build_app()
    except SettingsError as exc:
        # One clear line (the CLI shows it) instead of a traceback.
        sys.stderr.write(f"Trident settings: {exc}\n")
        raise SystemExit(1) from None
    app.synth()


if __name__ == "__main__":
    main()
