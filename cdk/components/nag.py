"""cdk-nag acknowledgments: every suppression in the app goes through here, with its reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, reasons: dict[str, str]) -> None:
    """Acknowledge cdk-nag findings on ``scope`` (and below): ``{rule id: reason}``.

    A rule id may name one finding, e.g. ``AwsSolutions-IAM5[Action::s3:GetObject*]``.
    """
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=rule, reason=reason) for rule, reason in reasons.items())
    )


# Singleton Lambda providers that CDK itself adds to a stack, by construct id prefix, with
# what each does (they are not ours to change; their permissions are scoped by CDK).
CDK_PROVIDERS = {
    "LogRetention": "CDK's LogRetention provider sets retention on log groups RDS creates",
    "BucketNotificationsHandler": "CDK's provider that writes the bucket notification config",
    "AWS679f53fac002430cb0da5b7982bd2287": "CDK's AwsCustomResource provider",
}
_PROVIDER_FINDINGS = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]",
    "AwsSolutions-IAM5[Resource::*]",
    "AwsSolutions-L1",
)


def acknowledge_cdk_providers(stack: IConstruct) -> None:
    """Acknowledge the AwsSolutions findings on CDK's own provider functions in ``stack``.

    Their roles use the basic execution policy and, for API calls on resources whose ARNs
    only exist at deploy time, ``Resource: *``; their runtime is CDK's choice.
    """
    for child in stack.node.children:
        for prefix, what in CDK_PROVIDERS.items():
            if child.node.id.startswith(prefix):
                acknowledge(child, dict.fromkeys(_PROVIDER_FINDINGS, what))
