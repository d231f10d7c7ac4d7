"""Against a deployed stack: ``python -m bench remote --target lambda|fargate|ec2 --url URL
--confirm [...]``.

Opt-in (``--confirm``) and bounded: it sends real requests and, when asked, changes the
deployment for a moment (restored afterwards).

- **Warm load**: ``--requests`` GETs of ``--path`` (at most 10,000) at ``--rate`` per second
  (at most 200) over ``--concurrency`` connections (at most 32); RPS and percentiles.
- **Lambda cold starts** (``--function NAME --cold-starts N``, N at most 10): each sets a
  harmless environment variable (``BENCH_COLD_START``) on the function, waits for the
  update, and invokes ``$LATEST`` directly with an HTTP API event for ``--path``: a new
  configuration means a new execution environment. The URL reaches the alias ``live`` (a
  published version, which a configuration change does not touch), hence the direct invoke.
  Then ``Init Duration`` is read from those invokes' ``REPORT`` lines in CloudWatch Logs
  (text or JSON log format). The original environment is put back.
- **Scale-out** (``--scale-out``): Fargate (``--cluster --service``) or EC2 (``--asg``):
  desired count + 1, then the seconds until the load balancer's target group has that many
  healthy targets; the desired count is put back.

Keys of the JSON: ``target``, ``url``, ``warm`` (requests, errors, statuses, rps, p50_ms,
p90_ms, p99_ms, mean_ms), ``cold_starts`` (list of request_id, client_ms, init_ms,
duration_ms, billed_ms), ``scale_out`` (from, to, seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from bench.stats import Latencies

MAX_REQUESTS = 10_000
MAX_RATE = 200.0
MAX_CONCURRENCY = 32
MAX_COLD_STARTS = 10
MARKER = "BENCH_COLD_START"

Clock = Callable[[], float]
Sleep = Callable[[float], None]


# --- warm load --------------------------------------------------------------------------------


async def _warm(
    url: str,
    *,
    requests: int,
    rate: float,
    concurrency: int,
    headers: dict[str, str],
    timeout_s: float,
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    next_index = 0
    started = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index, errors
        while next_index < requests:
            index, next_index = next_index, next_index + 1
            # Request i leaves no earlier than i / rate seconds in: the rate is a ceiling.
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            try:
                response = await client.get(url, headers=headers)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - sent) * 1000)
            key = str(response.status_code)
            statuses[key] = statuses.get(key, 0) + 1
            if response.status_code >= 400:
                errors += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    summary = Latencies.of(latencies)
    answered = summary.count > 0
    return {
        "requests": requests,
        "errors": errors,
        "statuses": statuses,
        "rps": round(summary.count / elapsed, 1),
        "p50_ms": round(summary.p50, 2) if answered else None,
        "p90_ms": round(summary.p90, 2) if answered else None,
        "p99_ms": round(summary.p99, 2) if answered else None,
        "mean_ms": round(summary.mean, 2) if answered else None,
    }


def warm_load(
    url: str,
    *,
    requests: int,
    rate: float,
    concurrency: int,
    headers: dict[str, str] | None = None,
    timeout_s: float = 30,
) -> dict[str, Any]:
    """``requests`` GETs of ``url``, never faster than ``rate`` per second."""
    if not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"requests must be within 1..{MAX_REQUESTS}")
    if not 0 < rate <= MAX_RATE:
        raise ValueError(f"rate must be within 0..{MAX_RATE:g} per second")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be within 1..{MAX_CONCURRENCY}")
    if urlsplit(url).scheme not in {"http", "https"}:
        raise ValueError("the URL must be http(s)")
    return asyncio.run(
        _warm(
            url,
            requests=requests,
            rate=rate,
            concurrency=concurrency,
            headers=headers or {},
            timeout_s=timeout_s,
        )
    )


# --- Lambda cold starts -----------------------------------------------------------------------


@dataclass(frozen=True)
class ColdInvoke:
    request_id: str
    client_ms: float
    init_ms: float | None = None
    duration_ms: float | None = None
    billed_ms: float | None = None


_REPORT_FIELDS = {
    "request_id": r"RequestId:\s*([\w-]+)",
    "duration_ms": r"\bDuration:\s*([\d.]+)\s*ms",
    "billed_ms": r"Billed Duration:\s*([\d.]+)\s*ms",
    "init_ms": r"Init Duration:\s*([\d.]+)\s*ms",
}


def parse_report(message: str) -> dict[str, Any] | None:
    """A REPORT line, text (``REPORT RequestId: ... Init Duration: 412.34 ms``) or JSON
    (``{"type": "platform.report", "record": {"metrics": {"initDurationMs": ...}}}``)."""
    message = message.strip()
    if message.startswith("{"):
        try:
            data = json.loads(message)
        except ValueError:
            return None
        if data.get("type") != "platform.report":
            return None
        record = data.get("record") or {}
        metrics = record.get("metrics") or {}
        return {
            "request_id": record.get("requestId"),
            "duration_ms": metrics.get("durationMs"),
            "billed_ms": metrics.get("billedDurationMs"),
            "init_ms": metrics.get("initDurationMs"),
        }
    if not message.startswith("REPORT"):
        return None
    found: dict[str, Any] = {}
    for key, pattern in _REPORT_FIELDS.items():
        match = re.search(pattern, message)
        value = match.group(1) if match else None
        found[key] = value if key == "request_id" or value is None else float(value)
    return found


def log_group_of(lambda_client: Any, function: str) -> str:
    config = lambda_client.get_function_configuration(FunctionName=function)
    group = (config.get("LoggingConfig") or {}).get("LogGroup")
    return str(group or f"/aws/lambda/{function}")


def _wait_updated(
    lambda_client: Any, function: str, *, timeout_s: float, sleep: Sleep = time.sleep
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        status = lambda_client.get_function_configuration(FunctionName=function).get(
            "LastUpdateStatus", "Successful"
        )
        if status == "Successful":
            return
        if status == "Failed" or time.monotonic() > deadline:
            raise RuntimeError(f"{function}: configuration update {status}")
        sleep(1)


def force_cold_starts(
    lambda_client: Any,
    function: str,
    event: dict[str, Any],
    count: int,
    *,
    update_timeout_s: float = 120,
) -> list[ColdInvoke]:
    """``count`` cold invokes of ``$LATEST``, each after a configuration change."""
    if not 1 <= count <= MAX_COLD_STARTS:
        raise ValueError(f"cold starts must be within 1..{MAX_COLD_STARTS}")
    config = lambda_client.get_function_configuration(FunctionName=function)
    original = dict((config.get("Environment") or {}).get("Variables") or {})
    invokes: list[ColdInvoke] = []
    try:
        for _ in range(count):
            variables = {**original, MARKER: uuid.uuid4().hex}
            lambda_client.update_function_configuration(
                FunctionName=function, Environment={"Variables": variables}
            )
            _wait_updated(lambda_client, function, timeout_s=update_timeout_s)
            started = time.perf_counter()
            response = lambda_client.invoke(
                FunctionName=function, Qualifier="$LATEST", Payload=json.dumps(event).encode()
            )
            client_ms = (time.perf_counter() - started) * 1000
            response["Payload"].read()
            if response.get("FunctionError"):
                raise RuntimeError(f"{function}: the invoke failed ({response['FunctionError']})")
            request_id = response["ResponseMetadata"]["RequestId"]
            invokes.append(ColdInvoke(request_id=request_id, client_ms=round(client_ms, 1)))
    finally:
        lambda_client.update_function_configuration(
            FunctionName=function, Environment={"Variables": original}
        )
    return invokes


def init_durations(
    logs_client: Any,
    log_group: str,
    invokes: list[ColdInvoke],
    *,
    since_ms: int,
    timeout_s: float = 60,
    sleep: Sleep = time.sleep,
) -> list[ColdInvoke]:
    """``invokes`` with their REPORT figures, polling the log group until all are in (logs
    arrive seconds after the invoke) or ``timeout_s`` passes."""
    wanted = {invoke.request_id for invoke in invokes}
    reports: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        kwargs: dict[str, Any] = {
            "logGroupName": log_group,
            "startTime": since_ms,
            "filterPattern": "REPORT",
        }
        while True:
            page = logs_client.filter_log_events(**kwargs)
            for log_event in page.get("events", []):
                report = parse_report(log_event.get("message", ""))
                if report and report.get("request_id") in wanted:
                    reports[report["request_id"]] = report
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        if wanted <= set(reports) or time.monotonic() > deadline:
            break
        sleep(2)
    found = []
    for invoke in invokes:
        report = reports.get(invoke.request_id, {})
        found.append(
            ColdInvoke(
                request_id=invoke.request_id,
                client_ms=invoke.client_ms,
                init_ms=report.get("init_ms"),
                duration_ms=report.get("duration_ms"),
                billed_ms=report.get("billed_ms"),
            )
        )
    return found


# --- scale-out --------------------------------------------------------------------------------


def _healthy(elbv2: Any, target_group_arn: str) -> int:
    described = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
    return sum(
        1
        for target in described["TargetHealthDescriptions"]
        if target["TargetHealth"]["State"] == "healthy"
    )


@dataclass(frozen=True)
class Patience:
    """How long a scale-out may take to show healthy targets, and how often to look."""

    timeout_s: float
    poll_s: float = 5
    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep


def _one_more_target(
    elbv2: Any,
    target_group_arn: str,
    before: int,
    set_count: Callable[[int], object],
    *,
    patience: Patience,
) -> dict[str, Any]:
    """Count + 1, seconds until that many targets are healthy; then put the count back."""
    set_count(before + 1)
    try:
        started = patience.clock()
        while _healthy(elbv2, target_group_arn) < before + 1:
            if patience.clock() - started > patience.timeout_s:
                raise TimeoutError(
                    f"fewer than {before + 1} healthy targets after {patience.timeout_s:g} s"
                )
            patience.sleep(patience.poll_s)
        seconds = round(patience.clock() - started, 1)
    finally:
        set_count(before)
    return {"from": before, "to": before + 1, "seconds": seconds}


def scale_out_fargate(
    ecs: Any, elbv2: Any, *, cluster: str, service: str, patience: Patience = Patience(900)
) -> dict[str, Any]:
    """One more task than the service's desired count, timed to healthy."""
    described = ecs.describe_services(cluster=cluster, services=[service])["services"][0]

    def set_count(count: int) -> None:
        ecs.update_service(cluster=cluster, service=service, desiredCount=count)

    target_group = described["loadBalancers"][0]["targetGroupArn"]
    before = int(described["desiredCount"])
    return _one_more_target(elbv2, target_group, before, set_count, patience=patience)


def scale_out_ec2(
    autoscaling: Any, elbv2: Any, *, asg: str, patience: Patience = Patience(1200)
) -> dict[str, Any]:
    """One more instance than the group's desired capacity, timed to healthy."""
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])[
        "AutoScalingGroups"
    ][0]
    before = int(group["DesiredCapacity"])
    if before + 1 > int(group["MaxSize"]):
        raise ValueError(f"{asg}: at its maximum ({group['MaxSize']}); nothing to scale out to")

    def set_count(count: int) -> None:
        autoscaling.set_desired_capacity(
            AutoScalingGroupName=asg, DesiredCapacity=count, HonorCooldown=False
        )

    target_group = group["TargetGroupARNs"][0]
    return _one_more_target(elbv2, target_group, before, set_count, patience=patience)


# --- CLI --------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench remote", description=(__doc__ or "").split("\n", 1)[0]
    )
    p.add_argument("--target", choices=("lambda", "fargate", "ec2"), required=True)
    p.add_argument("--url", required=True, help="the stack's URL (its Url/ApiUrl output)")
    p.add_argument(
        "--confirm",
        action="store_true",
        help="required: sends real requests and may change the deployment for a moment",
    )
    p.add_argument("--path", default="/health")
    p.add_argument("--header", action="append", default=[], metavar="NAME: VALUE")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--rate", type=float, default=20.0, help="requests per second, at most")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--region", default=None)
    p.add_argument("--function", help="Lambda: the API function's name")
    p.add_argument("--cold-starts", type=int, default=0, help="Lambda: how many to force")
    p.add_argument("--scale-out", action="store_true", help="Fargate/EC2: time one scale-out")
    p.add_argument("--cluster", help="Fargate: the ECS cluster")
    p.add_argument("--service", help="Fargate: the web service")
    p.add_argument("--asg", help="EC2: the Auto Scaling group")
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace, *, session: Any = None) -> dict[str, Any]:
    pairs = (header.partition(":") for header in args.header)
    headers = {name.strip(): value.strip() for name, _, value in pairs}
    url = args.url.rstrip("/") + args.path
    result: dict[str, Any] = {"target": args.target, "url": url}
    result["warm"] = warm_load(
        url,
        requests=args.requests,
        rate=args.rate,
        concurrency=args.concurrency,
        headers=headers,
    )
    if session is None and (args.cold_starts or args.scale_out):
        import boto3

        session = boto3.session.Session(region_name=args.region)
    if args.target == "lambda" and args.cold_starts:
        if not args.function:
            raise SystemExit("--cold-starts needs --function")
        from bench.lambda_emulator import http_api_event

        client = session.client("lambda")
        since = int(time.time() * 1000) - 1000
        event = http_api_event("GET", args.path, headers={k.lower(): v for k, v in headers.items()})
        invokes = force_cold_starts(client, args.function, event, args.cold_starts)
        invokes = init_durations(
            session.client("logs"), log_group_of(client, args.function), invokes, since_ms=since
        )
        result["cold_starts"] = [asdict(invoke) for invoke in invokes]
    if args.scale_out and args.target == "fargate":
        if not (args.cluster and args.service):
            raise SystemExit("--scale-out on fargate needs --cluster and --service")
        result["scale_out"] = scale_out_fargate(
            session.client("ecs"),
            session.client("elbv2"),
            cluster=args.cluster,
            service=args.service,
        )
    if args.scale_out and args.target == "ec2":
        if not args.asg:
            raise SystemExit("--scale-out on ec2 needs --asg")
        result["scale_out"] = scale_out_ec2(
            session.client("autoscaling"), session.client("elbv2"), asg=args.asg
        )
    return result


def main(argv: list[str] | None = None, *, session: Any = None) -> int:
    args = parser().parse_args(argv)
    if not args.confirm:
        sys.stderr.write(
            "remote mode sends real requests to the URL and, with --cold-starts or "
            "--scale-out, changes the deployment for a moment: add --confirm to go ahead\n"
        )
        return 2
    try:
        result = run(args, session=session)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        warm = result["warm"]
        sys.stdout.write(
            f"{url_line(result)}: {warm['requests']} requests, {warm['errors']} errors, "
            f"{warm['rps']} RPS, p50 {warm['p50_ms']} ms, p99 {warm['p99_ms']} ms\n"
        )
        for invoke in result.get("cold_starts", []):
            sys.stdout.write(
                f"cold start {invoke['request_id']}: init {invoke['init_ms']} ms, "
                f"duration {invoke['duration_ms']} ms, client {invoke['client_ms']} ms\n"
            )
        if "scale_out" in result:
            scale = result["scale_out"]
            sys.stdout.write(
                f"scale-out {scale['from']} -> {scale['to']}: {scale['seconds']} s to healthy\n"
            )
    return 0


def url_line(result: dict[str, Any]) -> str:
    return f"{result['target']} {result['url']}"


if __name__ == "__main__":
    raise SystemExit(main())
