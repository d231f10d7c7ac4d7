"""The VPC every target runs in: 2 AZs, public / private-with-egress / isolated subnets."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

# Fixed, so rules that admit "anything in the VPC" are literal (and reviewable) in templates.
VPC_CIDR = "10.0.0.0/16"


def security_group(
    scope: Construct,
    construct_id: str,
    *,
    vpc: ec2.IVpc,
    description: str,
    all_outbound: bool = False,
) -> ec2.SecurityGroup:
    """A security group that reaches nothing unless asked (``all_outbound``): what it may
    reach is granted rule by rule, as ``connections.allow_to`` does."""
    return ec2.SecurityGroup(
        scope, construct_id, vpc=vpc, description=description, allow_all_outbound=all_outbound
    )


class Network(Construct):
    """Exposes ``vpc``; the database lives in the isolated subnets, compute in the private ones."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        nat_gateways: int,
        sqs_endpoint: bool,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=2,
            nat_gateways=nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            # S3 traffic (uploads verified by jobs, exports) skips the NAT gateway's per-GB fee.
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        if sqs_endpoint:
            # Worth it when job traffic is heavy enough that NAT data charges exceed ~$15/month.
            endpoint_sg = security_group(
                self,
                "SqsEndpointSecurityGroup",
                vpc=self.vpc,
                description="SQS interface endpoint: HTTPS from inside the VPC",
            )
            endpoint_sg.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), "VPC")
            self.vpc.add_interface_endpoint(
                "Sqs",
                service=ec2.InterfaceVpcEndpointAwsService.SQS,
                subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                security_groups=[endpoint_sg],
                open=False,
            )

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
