"""The HTTP API on your own domain: a regional API Gateway domain name mapped to the stage.

The ACM certificate must live in the stack's region (a regional endpoint presents it there).
Stacks are environment-agnostic, so synth cannot compare the two: a CloudFormation rule does,
at deploy, before anything is created, and names both regions when they differ.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnRule, CfnRuleAssertion, Fn
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_certificatemanager as acm
from constructs import Construct


class ApiDomain(Construct):
    """Exposes ``url`` (https on the domain) and ``dns_target`` (the regional domain name a
    CNAME or alias record points at)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigwv2.IHttpApi,
        stage: apigwv2.IHttpStage,
        domain_name: str,
        certificate_arn: str,
        knob: str = "lambda_certificate_arn",
    ) -> None:
        super().__init__(scope, construct_id)
        certificate_region = certificate_arn.split(":")[3]  # settings check the ARN's shape
        # Rules allow only Fn::Equals/And/Or/Not/Contains/... and Ref: the ARN's region is
        # split here at synth, the stack's region is AWS::Region at deploy.
        CfnRule(
            self,
            "CertificateInStackRegion",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_equals(certificate_region, Aws.REGION),
                    assert_description=(
                        f"{knob} is in {certificate_region}, but a regional API "
                        "Gateway domain needs an ACM certificate in the stack's own region: "
                        "request or import one there and pass its ARN."
                    ),
                )
            ],
        )
        self.domain = apigwv2.DomainName(
            self,
            "Domain",
            domain_name=domain_name,
            certificate=acm.Certificate.from_certificate_arn(self, "Certificate", certificate_arn),
            endpoint_type=apigwv2.EndpointType.REGIONAL,
            security_policy=apigwv2.SecurityPolicy.TLS_1_2,
        )
        self.mapping = apigwv2.ApiMapping(
            self, "Mapping", api=api, domain_name=self.domain, stage=stage
        )
        self.url = f"https://{domain_name}"
        self.dns_target = self.domain.regional_domain_name
        self.hosted_zone_id = self.domain.regional_hosted_zone_id
