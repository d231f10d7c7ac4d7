"""The synthesized IAM is the manifest's (cdk/iam_manifest.py), for every role of every stack."""

from __future__ import annotations

from typing import Any

import pytest

from cdk.iam_manifest import DUTY_ACTIONS, ROLE_DUTIES, Duty, Resource, Role
from tests.cdk.conftest import Assembly

# Logical-id prefixes of the app's resources in Trident-Shared.
RESOURCE_IDS = {
    "StorageBucket": Resource.BUCKET,
    "JobsQueue": Resource.JOBS_QUEUE,
    "JobsDlq": Resource.DEAD_LETTER_QUEUE,
}
# Each role's logical-id prefix in its stack.
ROLE_IDS = {
    Role.LAMBDA_API: ("Lambda", "ApiFunctionServiceRole"),
    Role.LAMBDA_JOBS: ("Lambda", "JobsFunctionServiceRole"),
    Role.LAMBDA_HOUSEKEEPING: ("Lambda", "HousekeepingFunctionServiceRole"),
    Role.LAMBDA_MI_API: ("LambdaMI", "ApiFunctionServiceRole"),
    Role.MIGRATION: ("Shared", "MigrationsMigrateFunctionServiceRole"),
    Role.FARGATE_WEB: ("Fargate", "AppWebTaskTaskRole"),
    Role.FARGATE_WORKER: ("Fargate", "AppWorkerTaskTaskRole"),
    Role.EC2_INSTANCE: ("Ec2", "AppRole"),
}


def resource_key(arn: dict[str, Any]) -> Resource:
    if "Fn::Join" in arn:  # <bucket arn>/<prefix>*
        return Resource(arn["Fn::Join"][1][-1].lstrip("/").rstrip("*"))
    logical_id = arn["Fn::GetAtt"][0]
    return next(key for prefix, key in RESOURCE_IDS.items() if logical_id.startswith(prefix))


def granted(statements: list[dict[str, Any]]) -> dict[Resource, set[str]]:
    result: dict[Resource, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resources = statement["Resource"]
        for arn in resources if isinstance(resources, list) else [resources]:
            result.setdefault(resource_key(arn), set()).update(
                actions if isinstance(actions, list) else [actions]
            )
    return result


def duty_id(duty: Duty) -> str:
    return "AppPermissions" + duty.value.title().replace("-", "")


def test_each_duty_policy_grants_exactly_the_manifest(assembly: Assembly) -> None:
    every = assembly.resources("Shared", "AWS::IAM::ManagedPolicy")
    policies = {lid: p for lid, p in every.items() if lid.startswith("AppPermissions")}
    assert len(policies) == len(Duty)
    for duty, expected in DUTY_ACTIONS.items():
        (policy,) = (p for lid, p in policies.items() if lid.startswith(duty_id(duty)))
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert granted(statements) == {res: set(acts) for res, acts in expected.items()}, duty


@pytest.mark.parametrize("role", list(Role))
def test_each_role_attaches_exactly_its_duties(assembly: Assembly, role: Role) -> None:
    stack, prefix = ROLE_IDS[role]
    roles = assembly.resources(stack, "AWS::IAM::Role")
    (definition,) = (r for lid, r in roles.items() if lid.startswith(prefix))
    attached = str(definition["Properties"].get("ManagedPolicyArns", []))
    assert {duty for duty in Duty if duty_id(duty) in attached} == ROLE_DUTIES[role]
    # No permission on the app's bucket or queues written inline beside the manifest's (the
    # SQS event source's receive/delete grant on the Lambda jobs role is CDK's, for the mapping).
    inline = [
        statement
        for policy in assembly.resources(stack, "AWS::IAM::Policy").values()
        if any(r["Ref"].startswith(prefix) for r in policy["Properties"].get("Roles", []))
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(name in str(statement["Resource"]) for name in RESOURCE_IDS)
    ]
    app_actions = {
        action
        for statement in inline
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if action.startswith(("s3:", "sqs:"))
    }
    if role is Role.LAMBDA_JOBS:
        assert app_actions == {
            "sqs:ReceiveMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueUrl",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        }
    else:
        assert app_actions == set(), role
