"""The app's AWS permissions, granted from ``cdk/iam_manifest.py`` and nowhere else."""

from __future__ import annotations

from typing import cast

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.components.nag import acknowledge
from cdk.iam_manifest import DUTY_ACTIONS, OBJECT_PREFIXES, ROLE_DUTIES, Resource, Role


class DutyPolicies(Construct):
    """One customer-managed policy per duty of the manifest, in Trident-Shared: each role
    attaches its duties' policies, and no target stack writes an app permission of its own."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        jobs_queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        arns = {
            **{prefix: bucket.arn_for_objects(f"{prefix.value}*") for prefix in OBJECT_PREFIXES},
            Resource.BUCKET: bucket.bucket_arn,
            Resource.JOBS_QUEUE: jobs_queue.queue_arn,
            Resource.DEAD_LETTER_QUEUE: dead_letter_queue.queue_arn,
        }
        bucket_id = Stack.of(self).resolve(
            Stack.of(self).get_logical_id(cast(s3.CfnBucket, bucket.node.default_child))
        )
        self.policies: dict[str, iam.ManagedPolicy] = {}
        for duty, grants in DUTY_ACTIONS.items():
            policy = iam.ManagedPolicy(
                self,
                duty.value.title().replace("-", ""),
                description=f"Trident app, duty {duty.value} (cdk/iam_manifest.py)",
                statements=[
                    iam.PolicyStatement(actions=sorted(actions), resources=[arns[resource]])
                    for resource, actions in grants.items()
                ],
            )
            acknowledge(
                policy,
                {
                    f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix.value}*]": (
                        f"Objects under {prefix.value} are per user and per upload; the app "
                        "chooses the keys, and nothing outside its prefixes is reachable."
                    )
                    for prefix in OBJECT_PREFIXES
                    if prefix in grants
                },
            )
            self.policies[duty.value] = policy

    def grant(self, role: Role, principal: iam.IRole | None) -> None:
        """Attach the policies of ``role``'s duties to ``principal``."""
        assert principal is not None, "functions and tasks created here always have a role"
        for duty in sorted(ROLE_DUTIES[role]):
            principal.add_managed_policy(self.policies[duty.value])
