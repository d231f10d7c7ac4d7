"""Trident-Fargate and Trident-Ec2: services, health checks, scaling, HTTPS entry points."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.cdk.conftest import Assembly

CONTAINER_STACKS = ("Fargate", "Ec2")


def test_fargate_runs_a_web_and_a_worker_service(assembly: Assembly) -> None:
    services = assembly.resources("Fargate", "AWS::ECS::Service").values()
    assert len(services) == 2
    for service in services:
        config = service["Properties"]["DeploymentConfiguration"]
        assert config["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        assert service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"][
            "AssignPublicIp"
        ] == ("DISABLED")
    (web,) = [s for s in services if s["Properties"]["LoadBalancers"]]
    assert web["Properties"]["LoadBalancers"][0]["ContainerPort"] == 8000

    tasks = assembly.resources("Fargate", "AWS::ECS::TaskDefinition").values()
    containers = {
        c["Name"]: c for task in tasks for c in task["Properties"]["ContainerDefinitions"]
    }
    assert containers["worker"]["Command"] == ["python", "-m", "app.worker"]
    for container in containers.values():
        secrets = {s["Name"]: json.dumps(s["ValueFrom"]) for s in container["Secrets"]}
        assert ":password::" in secrets["DB_PASSWORD"]
        assert "JWT_SIGNING_KEYS" in secrets
        env = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert env["TARGET"] == "fargate"
        assert env["DB_SSLMODE"] == "require"
        assert "DB_PASSWORD" not in env
    web_env = {e["Name"]: e["Value"] for e in containers["web"]["Environment"]}
    assert web_env["WEB_CONCURRENCY"] == "2"
    # CloudFront appends the client, the ALB appends CloudFront.
    assert web_env["TRUSTED_PROXY_HOPS"] == "2"


@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_health_check_and_drain_outlast_gunicorn(assembly: Assembly, stack: str) -> None:
    assembly.template(stack).has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "HealthCheckPath": "/health",
            "Matcher": {"HttpCode": "200"},
            "Port": 8000,
            "TargetGroupAttributes": Match.array_with(
                [{"Key": "deregistration_delay.timeout_seconds", "Value": "35"}]
            ),
        },
    )


def test_fargate_scales_on_cpu_requests_and_queue_depth(assembly: Assembly) -> None:
    policies = assembly.resources("Fargate", "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracked = {
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"][
            "PredefinedMetricSpecification"
        ]["PredefinedMetricType"]
        for p in policies.values()
        if p["Properties"]["PolicyType"] == "TargetTrackingScaling"
    }
    assert tracked == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    steps = [p for p in policies.values() if p["Properties"]["PolicyType"] == "StepScaling"]
    assert len(steps) == 2  # scale out on a backlog, in when empty
    assembly.template("Fargate").has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS"},
    )
    targets = assembly.resources("Fargate", "AWS::ApplicationAutoScaling::ScalableTarget")
    capacities = sorted(
        (t["Properties"]["MinCapacity"], t["Properties"]["MaxCapacity"]) for t in targets.values()
    )
    assert capacities == [(1, 2), (1, 4)]


def test_the_ha_profile_runs_two_of_everything(variant: Assembly) -> None:
    """`-c profile=ha` (the variant): a NAT gateway per AZ, a Multi-AZ database, two web
    tasks, two workers and two instances at least."""
    variant.template("Shared").resource_count_is("AWS::EC2::NatGateway", 2)
    variant.template("Shared").has_resource_properties("AWS::RDS::DBInstance", {"MultiAZ": True})
    targets = variant.resources("Fargate", "AWS::ApplicationAutoScaling::ScalableTarget")
    assert sorted(t["Properties"]["MinCapacity"] for t in targets.values()) == [2, 2]
    (group,) = variant.resources("Ec2", "AWS::AutoScaling::AutoScalingGroup").values()
    assert group["Properties"]["MinSize"] == "2"


def _services(assembly: Assembly) -> dict[str, dict[str, Any]]:
    """The Fargate services' properties by role: the web one has the load balancer."""
    services = assembly.resources("Fargate", "AWS::ECS::Service").values()
    return {
        ("web" if s["Properties"].get("LoadBalancers") else "worker"): s["Properties"]
        for s in services
    }


def test_fargate_services_run_on_demand_by_default(assembly: Assembly) -> None:
    for service in _services(assembly).values():
        assert service["LaunchType"] == "FARGATE"
        assert "CapacityProviderStrategy" not in service
    assert not assembly.resources("Fargate", "AWS::ECS::ClusterCapacityProviderAssociations")


def test_worker_spot_runs_the_worker_on_fargate_spot(variant: Assembly) -> None:
    services = _services(variant)
    worker = services["worker"]
    assert "LaunchType" not in worker  # a strategy replaces the launch type
    assert worker["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]
    assert services["web"]["LaunchType"] == "FARGATE"  # requests never wait for Spot
    (association_id, association), *_ = variant.resources(
        "Fargate", "AWS::ECS::ClusterCapacityProviderAssociations"
    ).items()
    assert "FARGATE_SPOT" in association["Properties"]["CapacityProviders"]
    (worker_resource,) = [
        r
        for r in variant.resources("Fargate", "AWS::ECS::Service").values()
        if not r["Properties"].get("LoadBalancers")
    ]
    assert association_id in worker_resource["DependsOn"]


def test_image_is_staged_from_the_dockerfile_without_building(assembly: Assembly) -> None:
    manifest = json.loads((assembly.outdir / "Trident-Fargate.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "docker/Dockerfile"
    assert image["source"]["platform"] == "linux/amd64"
    context = assembly.outdir / image["source"]["directory"]
    staged = {path.name for path in context.iterdir()}
    assert staged == {"app", "docker", "pyproject.toml", "requirements.lock", "README.md"}
    assert (context / "docker" / "gunicorn.conf.py").exists()
    assert not (context / "docker" / "ec2").exists()


def test_ec2_launch_template_is_hardened(assembly: Assembly) -> None:
    assembly.template("Ec2").has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {
            "LaunchTemplateData": Match.object_like(
                {
                    "InstanceType": Match.string_like_regexp(r"^c6i\."),
                    "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
                    "BlockDeviceMappings": [
                        Match.object_like({"Ebs": Match.object_like({"Encrypted": True})})
                    ],
                    "KeyName": Match.absent(),
                }
            )
        },
    )
    roles = assembly.resources("Ec2", "AWS::IAM::Role").values()
    assert any("AmazonSSMManagedInstanceCore" in json.dumps(role) for role in roles)


def test_ec2_group_replaces_instances_that_signal_health(assembly: Assembly) -> None:
    (asg,) = assembly.resources("Ec2", "AWS::AutoScaling::AutoScalingGroup").values()
    assert asg["Properties"]["HealthCheckType"] == "ELB"
    rolling = asg["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert rolling["WaitOnResourceSignals"] is True
    assert asg["CreationPolicy"]["ResourceSignal"]["Count"] == 1
    assembly.template("Ec2").has_resource_properties(
        "AWS::AutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ASGAverageCPUUtilization"
                    }
                }
            ),
        },
    )


def test_ec2_boot_installs_the_locked_app_and_starts_systemd_units(assembly: Assembly) -> None:
    script = assembly.user_data()
    assert "@@" not in script
    assert "dnf install -y -q python3.12" in script
    assert "--only-binary=:all: -r /opt/trident/src/requirements.lock" in script
    assert "trident-web.service trident-worker.service" in script
    assert "cfn-signal" in script
    assert "TARGET=ec2" in script
    assert "DB_PASSWORD" not in script  # fetched at boot from Secrets Manager


def test_ec2_role_reads_only_its_own_source_object(assembly: Assembly) -> None:
    statements: list[dict[str, Any]] = [
        statement
        for policy in assembly.resources("Ec2", "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    (source,) = [s for s in statements if s["Action"] == "s3:GetObject"]
    assert "*" not in json.dumps(source["Resource"])


@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_default_entry_is_cloudfront_in_front_of_an_internal_alb(
    assembly: Assembly, stack: str
) -> None:
    template = assembly.template(stack)
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "DefaultCacheBehavior": Match.object_like(
                        {"ViewerProtocolPolicy": "redirect-to-https"}
                    )
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::CloudFront::VpcOrigin",
        {"VpcOriginEndpointConfig": Match.object_like({"OriginProtocolPolicy": "http-only"})},
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal"}
    )
    # Nothing in the stack admits traffic from the internet.
    resources = assembly.json(stack)["Resources"].values()
    ingress = [
        rule
        for r in resources
        if r["Type"] == "AWS::EC2::SecurityGroup"
        for rule in r["Properties"].get("SecurityGroupIngress", [])
    ] + [r["Properties"] for r in resources if r["Type"] == "AWS::EC2::SecurityGroupIngress"]
    assert ingress
    assert not [rule for rule in ingress if rule.get("CidrIp") == "0.0.0.0/0" or "CidrIpv6" in rule]
    outputs = assembly.json(stack)["Outputs"]
    assert any("https://" in json.dumps(output) for output in outputs.values())


@pytest.mark.parametrize(
    ("stack", "domain"), [("Fargate", "api.example.com"), ("Ec2", "ec2.example.com")]
)
def test_with_a_certificate_the_alb_serves_https_and_redirects_http(
    variant: Assembly, stack: str, domain: str
) -> None:
    template = variant.template(stack)
    template.resource_count_is("AWS::CloudFront::Distribution", 0)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internet-facing"}
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 443,
            "Protocol": "HTTPS",
            "Certificates": [{"CertificateArn": Match.string_like_regexp("^arn:aws:acm:")}],
            "SslPolicy": Match.any_value(),
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "DefaultActions": [
                Match.object_like(
                    {
                        "Type": "redirect",
                        "RedirectConfig": Match.object_like({"Protocol": "HTTPS", "Port": "443"}),
                    }
                )
            ],
        },
    )
    (url,) = [o for key, o in variant.json(stack)["Outputs"].items() if key.startswith("Url")]
    assert url["Value"] == f"https://{domain}"


def test_context_resizes_ec2(variant: Assembly) -> None:
    variant.template("Ec2").has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": Match.object_like({"InstanceType": "c6i.xlarge"})},
    )
    assert "WEB_CONCURRENCY=4" in variant.user_data()


def test_ec2_web_stop_timeout_follows_the_graceful_timeout(
    assembly: Assembly, variant: Assembly
) -> None:
    assert "TimeoutStopSec=45" in assembly.user_data()  # default graceful_timeout_s 30
    variant_script = variant.user_data()
    assert "GRACEFUL_TIMEOUT=50" in variant_script
    assert "TimeoutStopSec=65" in variant_script


@pytest.mark.parametrize("which", ["assembly", "variant"])  # CloudFront / direct HTTPS
@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_metrics_answer_404_through_the_load_balancer(
    which: str, stack: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Assembly = request.getfixturevalue(which)
    (rule,) = synthesized.resources(stack, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
    properties = rule["Properties"]
    assert properties["Priority"] == 1
    (condition,) = properties["Conditions"]
    assert condition["PathPatternConfig"]["Values"] == ["/metrics", "/metrics/*"]
    (action,) = properties["Actions"]
    assert action["Type"] == "fixed-response"
    response = action["FixedResponseConfig"]
    assert response["StatusCode"] == "404"
    assert json.loads(response["MessageBody"])["type"].endswith("/not-found")


@pytest.mark.parametrize("stack", CONTAINER_STACKS)
def test_cloudfront_reaches_the_internal_alb_through_its_origin_facing_prefix_list(
    assembly: Assembly, stack: str
) -> None:
    (lookup_id,) = [
        rid
        for rid, resource in assembly.resources(stack, "Custom::AWS").items()
        if "com.amazonaws.global.cloudfront.origin-facing" in json.dumps(resource)
        and "describeManagedPrefixLists" in json.dumps(resource)
    ]
    ingress = [
        rule["Properties"]
        for rule in assembly.resources(stack, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"].get("FromPort") == 80
    ]
    from_cloudfront = [
        rule
        for rule in ingress
        if rule.get("SourcePrefixListId")
        == {"Fn::GetAtt": [lookup_id, "PrefixLists.0.PrefixListId"]}
    ]
    assert len(from_cloudfront) == 1
    (alb_group,) = [
        gid
        for gid, group in assembly.resources(stack, "AWS::EC2::SecurityGroup").items()
        if "load balancer" in group["Properties"]["GroupDescription"]
    ]
    # The load balancer admits CloudFront on port 80 and nothing else.
    alb_rules = [
        rule for rule in ingress if rule["GroupId"] == {"Fn::GetAtt": [alb_group, "GroupId"]}
    ]
    inline = assembly.resources(stack, "AWS::EC2::SecurityGroup")[alb_group]["Properties"]
    assert alb_rules == from_cloudfront
    assert not inline.get("SecurityGroupIngress")
