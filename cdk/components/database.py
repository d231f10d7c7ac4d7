"""RDS for PostgreSQL in the isolated subnets, credentials in Secrets Manager."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk.components.nag import acknowledge
from cdk.components.network import security_group

POSTGRES_PORT = 5432


class Database(Construct):
    """Exposes ``instance``, ``secret`` (JSON: host, port, dbname, username, password)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        postgres_version: str,
        instance_class: str,
        allocated_storage_gb: int,
        max_allocated_storage_gb: int,
        max_connections: int,
        multi_az: bool,
        deletion_protection: bool,
        backup_retention_days: int,
        database_name: str,
        username: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        engine = rds.DatabaseInstanceEngine.postgres(
            version=rds.PostgresEngineVersion.of(postgres_version, postgres_version.split(".")[0])
        )
        self.engine = engine
        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description="Trident PostgreSQL parameters",
            parameters={
                # Checked against the targets' worst case at synth (settings.connection_budget).
                "max_connections": str(max_connections),
                "rds.force_ssl": "1",
                "log_min_duration_statement": "1000",
                # A crashed client never holds locks (and a pool slot) for long.
                "idle_in_transaction_session_timeout": "60000",
            },
        )
        self.database_name = database_name
        self.username = username
        self.security_group = security_group(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Trident database: reachable only from named security groups",
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=engine,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[self.security_group],
            instance_type=ec2.InstanceType(instance_class),
            credentials=rds.Credentials.from_generated_secret(username),
            database_name=database_name,
            port=POSTGRES_PORT,
            storage_encrypted=True,
            storage_type=rds.StorageType.GP3,
            allocated_storage=allocated_storage_gb,
            max_allocated_storage=max_allocated_storage_gb,
            multi_az=multi_az,
            deletion_protection=deletion_protection,
            backup_retention=Duration.days(backup_retention_days),
            parameter_group=parameters,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            cloudwatch_logs_retention=log_retention,
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            # `cdk destroy` leaves a final snapshot rather than deleting the data.
            removal_policy=RemovalPolicy.SNAPSHOT,
        )
        secret = self.instance.secret
        assert secret is not None  # from_generated_secret always makes one
        self.secret: secretsmanager.ISecret = secret

        reasons = {
            "AwsSolutions-RDS11": (
                "PostgreSQL's default port: a different port hides nothing, and the instance "
                "is in isolated subnets behind a security group with no open ingress."
            ),
            "AwsSolutions-SMG4": (
                "No automatic rotation: the container targets read the password at start, "
                "so a rotation would break new connections of running tasks. Rotate by "
                "redeploying (see README)."
            ),
        }
        if not multi_az:
            reasons["AwsSolutions-RDS3"] = (
                "Single-AZ by default to keep the idle cost down; -c db_multi_az=true for "
                "production."
            )
        if not deletion_protection:
            reasons["AwsSolutions-RDS10"] = (
                "Deletion protection was turned off by context (db_deletion_protection=false) "
                "so that `cdk destroy` can remove the instance; a final snapshot is kept."
            )
        acknowledge(self, reasons)

    @property
    def endpoint(self) -> str:
        return self.instance.db_instance_endpoint_address

    def reference_in(self, scope: Construct, construct_id: str) -> rds.IDatabaseInstance:
        """The instance as seen from another stack.

        Constructs that add ingress rules to the instance themselves (RDS Proxy's target
        binding does) then add them in ``scope``'s stack, not in Trident-Shared, which would
        make Shared depend on that stack (a cycle).
        """
        return rds.DatabaseInstance.from_database_instance_attributes(
            scope,
            construct_id,
            instance_identifier=self.instance.instance_identifier,
            instance_endpoint_address=self.instance.db_instance_endpoint_address,
            port=POSTGRES_PORT,
            engine=self.engine,
            security_groups=[
                ec2.SecurityGroup.from_security_group_id(
                    scope, f"{construct_id}SecurityGroup", self.security_group.security_group_id
                )
            ],
        )

    def allow_from(self, peer: ec2.IConnectable, description: str) -> None:
        """Let ``peer`` reach PostgreSQL.

        Called on the peer's side (``allow_to``) so that, for a peer in another stack, both
        rules land in the peer's stack: Trident-Shared never references a target stack.
        """
        peer.connections.allow_to(self.instance, ec2.Port.tcp(POSTGRES_PORT), description)
