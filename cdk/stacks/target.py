"""What every target stack shares: it builds on Trident-Shared."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from cdk.components.app_env import app_environment
from cdk.components.entry import PublicEntry
from cdk.stacks.shared import SharedStack


class TargetStack(Stack):
    """A target's stack; subclasses put their resources in ``build``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.shared = shared
        self.settings = shared.settings
        self.database = shared.database
        # Stated, not only implied by cross-stack references: Trident-Shared's migration
        # trigger finishes before any target's new code is deployed or takes traffic.
        self.add_stack_dependency(shared, "migrations run before the target's new code")
        self.build()

    def build(self) -> None:
        raise NotImplementedError

    def public_entry(self, target: str) -> PublicEntry:
        """HTTPS in front of a container target's ALB: its own domain and certificate when
        given, else CloudFront's."""
        domain_name, certificate_arn = self.settings.custom_domain(target)
        return PublicEntry(
            self,
            "Entry",
            vpc=self.shared.vpc,
            domain_name=domain_name,
            certificate_arn=certificate_arn,
            target=target,
        )

    def app_environment(self, target: str, *, db_host: str) -> dict[str, str]:
        """The app's plain settings for ``target``, reaching the database at ``db_host``."""
        return app_environment(
            target=target,
            settings=self.settings,
            database=self.database,
            db_host=db_host,
            storage=self.shared.storage,
            jobs=self.shared.jobs,
        )
