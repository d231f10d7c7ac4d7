"""Remote mode against a local URL and moto: the code path, not the cloud."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench import remote

REGION = "us-east-1"


@pytest.fixture(scope="module")
def local_url() -> Iterator[str]:
    """A stand-in for a deployed API: 200 on /health, 404 elsewhere."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            found = self.path == "/health"
            body = b'{"status": "ok"}' if found else b"{}"
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_refuses_without_confirm(local_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert remote.main(["--target", "fargate", "--url", local_url]) == 2
    assert "--confirm" in capsys.readouterr().err


def test_warm_load_is_bounded_and_counts_statuses(
    local_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--target", "ec2", "--url", local_url, "--confirm", "--requests", "30"]
    assert remote.main([*argv, "--rate", "200", "--concurrency", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    warm = result["warm"]
    assert result["url"] == f"{local_url}/health"
    assert (warm["requests"], warm["errors"], warm["statuses"]) == (30, 0, {"200": 30})
    assert 0 < warm["p50_ms"] <= warm["p99_ms"]
    assert warm["rps"] <= 200 * 1.2  # the rate is a ceiling
    missing = remote.warm_load(f"{local_url}/nope", requests=2, rate=100, concurrency=1)
    assert (missing["errors"], missing["statuses"]) == (2, {"404": 2})
    with pytest.raises(ValueError, match="requests"):
        remote.warm_load(local_url, requests=remote.MAX_REQUESTS + 1, rate=1, concurrency=1)
    assert remote.main([*argv, "--rate", "10000"]) == 2  # over the rate bound


def test_parse_report_lines() -> None:
    text = (
        "REPORT RequestId: 8f5e3c1a-1111-2222-3333-444455556666\tDuration: 12.34 ms\t"
        "Billed Duration: 13 ms\tMemory Size: 1024 MB\tMax Memory Used: 98 MB\t"
        "Init Duration: 412.50 ms\t"
    )
    assert remote.parse_report(text) == {
        "request_id": "8f5e3c1a-1111-2222-3333-444455556666",
        "duration_ms": 12.34,
        "billed_ms": 13.0,
        "init_ms": 412.5,
    }
    warm = remote.parse_report("REPORT RequestId: abc Duration: 1.00 ms Billed Duration: 1 ms")
    assert warm is not None
    assert warm["init_ms"] is None
    as_json = json.dumps(
        {
            "type": "platform.report",
            "record": {
                "requestId": "abc",
                "metrics": {"durationMs": 2.5, "billedDurationMs": 3, "initDurationMs": 300.1},
            },
        }
    )
    assert remote.parse_report(as_json) == {
        "request_id": "abc",
        "duration_ms": 2.5,
        "billed_ms": 3,
        "init_ms": 300.1,
    }
    assert remote.parse_report("START RequestId: abc Version: $LATEST") is None


@pytest.fixture
def aws() -> Iterator[boto3.session.Session]:
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield boto3.session.Session(region_name=REGION)


def _function(session: boto3.session.Session) -> Any:
    role = session.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("fn.py", "def handler(event, context):\n    return {}\n")
    client = session.client("lambda")
    client.create_function(
        FunctionName="api",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="fn.handler",
        Code={"ZipFile": archive.getvalue()},
        Environment={"Variables": {"TARGET": "lambda"}},
    )
    return client


def test_cold_starts_change_the_environment_then_restore_it(
    aws: boto3.session.Session,
) -> None:
    client = _function(aws)
    since = int(time.time() * 1000) - 1000
    event = {"rawPath": "/health"}
    invokes = remote.force_cold_starts(client, "api", event, 2)
    assert len({invoke.request_id for invoke in invokes}) == 2
    config = client.get_function_configuration(FunctionName="api")
    assert config["Environment"]["Variables"] == {"TARGET": "lambda"}  # put back
    # The function's log group gets a REPORT line per invoke (here: written by the test).
    group = remote.log_group_of(client, "api")
    assert group == "/aws/lambda/api"
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    messages = [
        f"REPORT RequestId: {invoke.request_id}\tDuration: 3.00 ms\tBilled Duration: 4 ms\t"
        f"Memory Size: 1024 MB\tMax Memory Used: 90 MB\tInit Duration: {400 + n}.25 ms\t"
        for n, invoke in enumerate(invokes)
    ]
    messages.append("REPORT RequestId: someone-else\tDuration: 1.00 ms\tInit Duration: 9 ms")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now, "message": message} for message in messages],
    )
    found = remote.init_durations(logs, group, invokes, since_ms=since, timeout_s=0)
    assert [(f.init_ms, f.billed_ms) for f in found] == [(400.25, 4.0), (401.25, 4.0)]
    with pytest.raises(ValueError, match="cold starts"):
        remote.force_cold_starts(client, "api", event, remote.MAX_COLD_STARTS + 1)


def _target_group(session: boto3.session.Session) -> tuple[str, str]:
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = session.client("elbv2").create_target_group(
        Name="web", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip"
    )
    return group["TargetGroups"][0]["TargetGroupArn"], subnet


def test_fargate_scale_out_times_the_new_target_and_restores(
    aws: boto3.session.Session,
) -> None:
    target_group, _ = _target_group(aws)
    ecs, elbv2 = aws.client("ecs"), aws.client("elbv2")
    ecs.create_cluster(clusterName="trident")
    ecs.register_task_definition(
        family="web",
        containerDefinitions=[{"name": "web", "image": "app", "memory": 512}],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )
    ecs.create_service(
        cluster="trident",
        serviceName="web",
        taskDefinition="web",
        desiredCount=1,
        launchType="FARGATE",
        loadBalancers=[
            {"targetGroupArn": target_group, "containerName": "web", "containerPort": 8000}
        ],
    )
    # moto registers no task IPs: the second "task" is registered by hand.
    elbv2.register_targets(
        TargetGroupArn=target_group, Targets=[{"Id": "10.0.1.10"}, {"Id": "10.0.1.11"}]
    )
    result = remote.scale_out_fargate(
        ecs, elbv2, cluster="trident", service="web", patience=remote.Patience(5, poll_s=0)
    )
    assert (result["from"], result["to"]) == (1, 2)
    assert result["seconds"] >= 0
    service = ecs.describe_services(cluster="trident", services=["web"])["services"][0]
    assert service["desiredCount"] == 1


def test_ec2_scale_out_through_the_cli(
    aws: boto3.session.Session, local_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target_group, subnet = _target_group(aws)
    autoscaling = aws.client("autoscaling")
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="c6i.large"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchConfigurationName="lc",
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        VPCZoneIdentifier=subnet,
        TargetGroupARNs=[target_group],
    )
    argv = ["--target", "ec2", "--url", local_url, "--confirm", "--requests", "2"]
    assert remote.main([*argv, "--scale-out", "--asg", "web", "--json"], session=aws) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["scale_out"]["from"], result["scale_out"]["to"]) == (1, 2)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
    assert group["AutoScalingGroups"][0]["DesiredCapacity"] == 1
    # At its maximum there is nothing to scale out to.
    autoscaling.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    assert remote.main([*argv, "--scale-out", "--asg", "web"], session=aws) == 2
