"""The public HTTPS entry point of a container target: an ALB, and CloudFront when needed.

With a domain and an ACM certificate, the ALB is internet-facing with an HTTPS listener and
plain HTTP redirects to it. Without them, the ALB is internal and a CloudFront distribution
reaches it through a VPC origin: the https URL works out of the box, and the ALB is not on
the internet at all (its security group admits only addresses inside the VPC, where the VPC
origin's network interfaces live). Passwords and tokens never cross the internet in clear.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_sns as sns
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk.components.alarms import rollback_alarm
from cdk.components.nag import acknowledge
from cdk.components.network import security_group
from cdk.components.storage import log_bucket

# The app's own port in the container / on the instance (docker/gunicorn.conf.py).
APP_PORT = 8000
HEALTH_PATH = "/health"


def add_web_targets(
    listener: elbv2.ApplicationListener,
    target: elbv2.IApplicationLoadBalancerTarget,
    *,
    graceful_timeout_s: int,
) -> elbv2.ApplicationTargetGroup:
    """Register the app's web tier: health on /health, a drain longer than Gunicorn's."""
    return listener.add_targets(
        "Web",
        port=APP_PORT,
        protocol=elbv2.ApplicationProtocol.HTTP,
        targets=[target],
        health_check=elbv2.HealthCheck(
            path=HEALTH_PATH,
            healthy_http_codes="200",
            interval=Duration.seconds(15),
            timeout=Duration.seconds(5),
            healthy_threshold_count=2,
            unhealthy_threshold_count=3,
        ),
        # Longer than Gunicorn's graceful timeout: requests in flight finish first.
        deregistration_delay=Duration.seconds(graceful_timeout_s + 5),
    )


def deployment_alarms(
    scope: Construct,
    target_group: elbv2.ApplicationTargetGroup,
    *,
    max_5xx_per_minute: int,
    max_p99_ms: int,
    topic: sns.ITopic,
) -> list[cloudwatch.Alarm]:
    """What users of the web tier see, for a deployment to stop and roll back on: the
    targets' 5xx responses per minute and their p99 response time (two minutes of three)."""
    metrics = target_group.metrics
    minute = Duration.minutes(1)
    specs = (
        (
            "Web5xx",
            "web tier 5xx responses per minute",
            metrics.http_code_target(
                elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=minute, statistic="Sum"
            ),
            max_5xx_per_minute,
            1,
        ),
        (
            "WebP99",
            "web tier p99 response time, seconds",
            metrics.target_response_time(period=minute, statistic="p99"),
            max_p99_ms / 1000,
            3,
        ),
    )
    return [
        rollback_alarm(
            scope,
            construct_id,
            description=description,
            metric=metric,
            threshold=threshold,
            topic=topic,
            evaluation_periods=periods,
            # Named: ECS takes deployment alarms by name (CDK warns that a Ref could make a
            # cycle with the service).
            alarm_name=f"{Stack.of(scope).stack_name}-{construct_id}",
        )
        for construct_id, description, metric, threshold, periods in specs
    ]


CLOUDFRONT_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"

# The same 404 problem the app gives for an unknown path.
NOT_FOUND_BODY = json.dumps(
    {"type": "https://trident.dev/problems/not-found", "title": "Not Found", "status": 404}
)


def hide_metrics(scope: Construct, listener: elbv2.ApplicationListener) -> None:
    """``/metrics`` is for scrapers inside the VPC, which reach each task or instance on its own
    address; through the load balancer (so from CloudFront or the internet) it is a 404."""
    elbv2.ApplicationListenerRule(
        scope,
        "HideMetrics",
        listener=listener,
        priority=1,
        conditions=[elbv2.ListenerCondition.path_patterns(["/metrics", "/metrics/*"])],
        action=elbv2.ListenerAction.fixed_response(
            404, content_type="application/problem+json", message_body=NOT_FOUND_BODY
        ),
    )


class PublicEntry(Construct):
    """Exposes ``alb``, ``listener`` (attach targets to it), ``url`` and ``proxy_hops`` (how
    many proxies append to X-Forwarded-For: the app's TRUSTED_PROXY_HOPS)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        domain_name: str | None,
        certificate_arn: str | None,
        target: str,
    ) -> None:
        super().__init__(scope, construct_id)
        logs_prefix = target
        # ALB/CloudFront logs of this target only: it tears down with its own stack's policy.
        self.logs_bucket = log_bucket(self, "AccessLogs")
        logs_bucket = self.logs_bucket
        direct = certificate_arn is not None
        self.security_group = security_group(
            self, "AlbSecurityGroup", vpc=vpc, description=f"Trident {logs_prefix} load balancer"
        )
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            internet_facing=direct,
            security_group=self.security_group,
            vpc_subnets=ec2.SubnetSelection(
                subnet_type=ec2.SubnetType.PUBLIC if direct else ec2.SubnetType.PRIVATE_WITH_EGRESS
            ),
            drop_invalid_header_fields=True,
            idle_timeout=Duration.seconds(60),
        )
        acknowledge(
            self.alb,
            {
                "AwsSolutions-ELB2": (
                    "ALB access logs need the region's ELB log-delivery account at synth, "
                    "which environment-agnostic stacks do not know. Every request is still "
                    "logged: by the app (one JSON line each, CloudWatch Logs) and, in the "
                    "default mode, by CloudFront into the access-log bucket."
                )
            },
        )
        self.distribution: cloudfront.Distribution | None = None
        if direct:
            # Settings require both together.
            assert certificate_arn is not None
            assert domain_name is not None
            self.listener = self.alb.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=True,
            )
            self.alb.add_redirect(source_port=80, target_port=443)
            hide_metrics(self, self.listener)
            self.url = f"https://{domain_name}"
            self.proxy_hops = 1
            acknowledge(
                self.security_group,
                {
                    "AwsSolutions-EC23": (
                        "The public entry point: 443 (and 80, which only redirects to 443) "
                        "are open to the internet on purpose."
                    )
                },
            )
            return

        self.listener = self.alb.add_listener(
            "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=False
        )
        hide_metrics(self, self.listener)
        # AWS's guidance for CloudFront origins, VPC origins included: admit CloudFront's
        # origin-facing managed prefix list, and nothing else. Its id differs per region and
        # these stacks are environment-agnostic, so it is looked up at deploy time.
        # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/LocationsOfEdgeServers.html
        lookup = cr.AwsCustomResource(
            self,
            "CloudFrontPrefixList",
            on_update=cr.AwsSdkCall(
                service="EC2",
                action="describeManagedPrefixLists",
                parameters={
                    "Filters": [{"Name": "prefix-list-name", "Values": [CLOUDFRONT_PREFIX_LIST]}]
                },
                physical_resource_id=cr.PhysicalResourceId.of(CLOUDFRONT_PREFIX_LIST),
                output_paths=["PrefixLists.0.PrefixListId"],
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(
                resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE
            ),
            install_latest_aws_sdk=False,
        )
        acknowledge(
            lookup,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "ec2:DescribeManagedPrefixLists is a read that supports no resource-level "
                    "permissions: Resource * is its only form."
                )
            },
        )
        self.security_group.add_ingress_rule(
            ec2.Peer.prefix_list(lookup.get_response_field("PrefixLists.0.PrefixListId")),
            ec2.Port.tcp(80),
            "CloudFront origin-facing addresses (the VPC origin)",
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Cdn",
            comment=f"Trident {logs_prefix}: https in front of the internal ALB",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.VpcOrigin.with_application_load_balancer(
                    self.alb,
                    protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY,
                    read_timeout=Duration.seconds(60),
                    keepalive_timeout=Duration.seconds(60),
                ),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                # An API: nothing cached at the edge; every header, cookie and query reaches
                # the app (ETag/304 still work end to end).
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                compress=True,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=logs_bucket,
            log_file_prefix=f"{logs_prefix}-cloudfront/",
        )
        self.url = f"https://{self.distribution.distribution_domain_name}"
        # CloudFront appends the client, the ALB appends CloudFront.
        self.proxy_hops = 2
        acknowledge(
            self.distribution,
            {
                "AwsSolutions-CFR1": (
                    "No geo restriction: the service is meant to be reachable worldwide."
                ),
                "AwsSolutions-CFR2": (
                    "No WAF by default (a web ACL costs $5/month + per request); the app "
                    "rate-limits logins and registrations itself. Attach one for production."
                ),
                "AwsSolutions-CFR4": (
                    "The default *.cloudfront.net certificate cannot be pinned to TLS 1.2; "
                    "set fargate/ec2_domain_name + certificate_arn for a custom policy."
                ),
            },
        )
