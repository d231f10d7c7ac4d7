"""What each target costs per month: ``python -m bench cost [--rps 1,10,100] [--json]``.

Each target's total is everything its deployment creates: its own stack (Trident-Lambda,
-Fargate or -Ec2) plus Trident-Shared, as cdk/stacks and cdk/components build them with the
defaults of deployment/settings.py. Prices come from bench/prices.toml (unit, region, date checked
and source for each); a month is 730 hours; free tiers are never applied.

Inputs: the average RPS, a peak-to-average ratio (containers are sized for the peak; Lambda
pays per request) and per-request figures measured by ``python -m bench load`` (read from the
latest bench/results/*/results.json unless ``--no-measured``), each overridable by a flag.
Every input appears under ``assumptions``, marked ``measured`` or ``assumed``.

Keys of the JSON (stable; other tools read them): ``monthly_usd[target][rps]`` (total),
``line_items[target][rps][item]``, ``crossover_rps[fargate|ec2]`` (the lowest average RPS,
to 1 RPS, at which that target costs less than Lambda; null if never up to 1 000 000),
``assumptions[name] = {value, source, note}``, ``notes`` (limits of the model).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from deployment.settings import DeploySettings, instance_vcpus

PRICES_PATH = Path(__file__).with_name("prices.toml")
RESULTS_DIR = Path(__file__).with_name("results")
TARGETS = ("lambda", "fargate", "ec2")
DEFAULT_RPS = (1.0, 10.0, 100.0, 1_000.0, 10_000.0)
GB = 1024**3  # AWS bills data in binary gigabytes
# Lambda gives a function one full vCPU at 1,769 MB, and CPU in proportion below that.
LAMBDA_MB_PER_VCPU = 1769
CROSSOVER_MAX_RPS = 1_000_000
# Endpoints of the request mix, as `python -m bench load` names its scenarios.
MIX_ENDPOINTS = ("read", "presign", "enqueue")


# --- prices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """``usd`` for ``per`` units; with ``tiers``, ``(up_to units per month, usd per `per`)``."""

    name: str
    per: float
    unit: str
    region: str
    checked: str
    source: str
    usd: float | None = None
    tiers: tuple[tuple[float, float], ...] = ()

    def cost(self, quantity: float) -> float:
        """The monthly cost of ``quantity`` units (tiers applied in order)."""
        if not self.tiers:
            assert self.usd is not None
            return quantity / self.per * self.usd
        total, floor = 0.0, 0.0
        for up_to, usd in self.tiers:
            if quantity <= floor:
                break
            total += (min(quantity, up_to) - floor) / self.per * usd
            floor = up_to
        return total

    @property
    def unit_price(self) -> float:
        """The first tier's price of one unit."""
        usd = self.usd if self.usd is not None else self.tiers[0][1]
        return usd / self.per


@dataclass(frozen=True)
class Prices:
    hours_per_month: float
    region: str
    items: Mapping[str, Price]

    def __getitem__(self, name: str) -> Price:
        try:
            return self.items[name]
        except KeyError:
            raise KeyError(f"no price {name!r} in {PRICES_PATH.name}: add it there") from None

    @property
    def seconds_per_month(self) -> float:
        return self.hours_per_month * 3600


def load_prices(path: Path = PRICES_PATH) -> Prices:
    data = tomllib.loads(path.read_text())
    meta = data.pop("meta")
    items: dict[str, Price] = {}
    for name, entry in data.items():
        missing = {"per", "unit", "region", "checked", "source"} - set(entry)
        if missing or ("usd" in entry) == ("tiers" in entry):
            raise ValueError(f"{path.name} [{name}]: needs usd or tiers, and {sorted(missing)}")
        items[name] = Price(
            name=name,
            per=float(entry["per"]),
            unit=entry["unit"],
            region=entry["region"],
            checked=entry["checked"],
            source=entry["source"],
            usd=entry.get("usd"),
            tiers=tuple((float(up), float(usd)) for up, usd in entry.get("tiers", ())),
        )
    return Prices(
        hours_per_month=float(meta["hours_per_month"]), region=meta["region"], items=items
    )


# --- inputs -----------------------------------------------------------------------------------


def _in(default: Any, note: str) -> Any:
    return field(default=default, metadata={"note": note})


CDK = DeploySettings()  # the stacks' defaults: what `make deploy-*` creates


@dataclass(frozen=True)
class Inputs:
    """Every input of the model. ``measured`` names the fields a bench run supplied; the rest
    are assumptions (the CDK defaults among them, which `-c` changes at deploy)."""

    rps: tuple[float, ...] = _in(DEFAULT_RPS, "average requests per second, one column each")
    peak_ratio: float = _in(3.0, "peak RPS / average RPS: containers are sized for the peak")
    # The request mix: which endpoints the traffic is made of.
    mix_read: float = _in(0.96, "share of requests: GET /v1/files/{id} (DB read, ETag)")
    mix_presign: float = _in(0.02, "share of requests: POST /v1/files, each then one upload")
    mix_enqueue: float = _in(0.02, "share of requests: POST /v1/jobs, each one job")
    # Lambda
    lambda_duration_ms: float = _in(10.0, "mean duration of an API invoke on Lambda")
    lambda_cpu_scale: float = _in(
        1.0,
        "factor from the local in-process time to Lambda's: 1769 MB / memory when measured "
        "(Lambda's CPU share; an upper bound for I/O-bound requests)",
    )
    lambda_memory_mb: int = _in(CDK.lambda_memory, "API function memory (cdk lambda_memory)")
    lambda_architecture: str = _in(CDK.lambda_architecture, "cdk lambda_architecture")
    lambda_init_ms: float = _in(400.0, "init phase of a cold start (billed since 2025-08-01)")
    cold_start_rate: float = _in(
        0.01, "cold starts per invoke; AWS: under 1% of invocations in production"
    )
    lambda_log_bytes: float = _in(900.0, "bytes the API function logs per invoke (access + EMF)")
    lambda_log_events: float = _in(2.0, "log events the API function writes per invoke")
    platform_log_bytes: float = _in(280.0, "Lambda's START/END/REPORT lines per invoke (3 events)")
    http_api_log_bytes: float = _in(330.0, "HTTP API access log line per request (1 event)")
    jobs_lambda_memory_mb: int = _in(CDK.jobs_lambda_memory, "cdk jobs_lambda_memory")
    jobs_batch_size: int = _in(CDK.jobs_batch_size, "SQS messages per jobs invoke (cdk)")
    job_duration_ms: float = _in(200.0, "wall time of one job (ingest an upload, run an export)")
    job_cpu_ms: float = _in(20.0, "CPU time of one job, for sizing container workers")
    job_log_bytes: float = _in(500.0, "bytes logged per job")
    housekeeping_ms: float = _in(1000.0, "housekeeping run every 5 minutes at 512 MB (cdk)")
    # Containers
    server_cpu_ms: float = _in(2.0, "server CPU time per request of the mix (Gunicorn, 2 workers)")
    container_log_bytes: float = _in(400.0, "bytes the app logs per request (one JSON line)")
    container_log_events: float = _in(1.0, "log events per request in a container")
    cpu_target_percent: int = _in(
        CDK.cpu_target_percent, "autoscaling CPU target: capacity for the peak at this load"
    )
    min_tasks: int = _in(2, "web tasks at least, for two AZs (cdk default fargate_min_tasks=1)")
    min_instances: int = _in(2, "instances at least, for two AZs (cdk default ec2_min_instances=1)")
    fargate_cpu: int = _in(CDK.fargate_cpu, "web task CPU units (cdk fargate_cpu)")
    fargate_memory: int = _in(CDK.fargate_memory, "web task MiB (cdk fargate_memory)")
    fargate_max_tasks: int = _in(CDK.fargate_max_tasks, "cdk fargate_max_tasks (warns above)")
    fargate_worker_cpu: int = _in(CDK.fargate_worker_cpu, "worker task CPU units (cdk)")
    fargate_worker_memory: int = _in(CDK.fargate_worker_memory, "worker task MiB (cdk)")
    fargate_worker_min_tasks: int = _in(CDK.fargate_worker_min_tasks, "cdk worker minimum")
    fargate_architecture: str = _in(CDK.fargate_architecture, "cdk fargate_architecture")
    ec2_instance_type: str = _in(CDK.ec2_instance_type, "cdk ec2_instance_type")
    ec2_max_instances: int = _in(CDK.ec2_max_instances, "cdk ec2_max_instances (warns above)")
    ec2_volume_gb: int = _in(20, "gp3 root volume per instance (cdk/components/ec2_api.py)")
    ec2_monitoring_metrics: int = _in(7, "detailed monitoring: 1-minute metrics per instance")
    container_insights_metrics: int = _in(25, "Container Insights metrics of the Fargate cluster")
    ecr_image_gb: float = _in(0.3, "the Fargate image in ECR")
    # Traffic on the wire
    request_bytes: float = _in(450.0, "request size on the wire (headers + body)")
    response_bytes: float = _in(600.0, "response size on the wire (headers + body)")
    direct_alb: bool = _in(
        False,
        "containers behind an internet-facing ALB (domain + certificate) instead of the "
        "default CloudFront in front of an internal ALB",
    )
    alb_new_connections_per_request: float = _in(
        0.01, "new ALB connections per request (CloudFront and clients keep them alive)"
    )
    access_log_bytes: float = _in(40.0, "CloudFront standard log per request, gzipped, in S3")
    access_log_months: float = _in(3.0, "log bucket expiry: 90 days (cdk/components/storage.py)")
    # AWS API calls
    aws_call_bytes: float = _in(2000.0, "bytes through the NAT gateway per SQS call (HTTPS)")
    sqs_requests_per_job: float = _in(3.0, "send, receive, delete")
    sqs_polls_per_month: float = _in(
        657_000.0, "empty long polls a month: 5 pollers x 3 a minute (fewer for one worker)"
    )
    s3_puts_per_upload: float = _in(2.0, "the browser's POST, the copy into files/")
    s3_gets_per_upload: float = _in(2.0, "HEAD and GET while verifying")
    # Trident-Shared
    nat_gateways: int = _in(CDK.nat_gateways, "cdk nat_gateways (each with a public IPv4)")
    sqs_endpoint: bool = _in(CDK.sqs_endpoint, "cdk sqs_endpoint (an interface endpoint in 2 AZs)")
    db_instance_class: str = _in(CDK.db_instance_class, "cdk db_instance_class")
    db_storage_gb: int = _in(CDK.db_allocated_storage_gb, "cdk db_allocated_storage_gb")
    db_multi_az: bool = _in(CDK.db_multi_az, "cdk db_multi_az")
    shared_log_gb: float = _in(1.0, "GB/month: VPC flow logs (rejects) and PostgreSQL's own log")
    logs_compression: float = _in(0.15, "stored / ingested size of CloudWatch Logs (30-day)")
    secrets: int = _in(2, "Secrets Manager: database credentials and JWT keys")
    kms_keys: int = _in(1, "customer-managed KMS keys: the alarm topic's, which CloudWatch may use")
    measured: frozenset[str] = field(default=frozenset(), metadata={"note": ""})

    def replace(self, **changes: Any) -> Inputs:
        return dataclasses.replace(self, **changes)

    def assumptions(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for spec in fields(self):
            if spec.name == "measured":
                continue
            value = getattr(self, spec.name)
            out[spec.name] = {
                "value": list(value) if isinstance(value, tuple) else value,
                "source": "measured" if spec.name in self.measured else "assumed",
                "note": spec.metadata["note"],
            }
        return out


def _mixed(scenarios: Mapping[str, Mapping[str, Any]], key: str, inputs: Inputs) -> float | None:
    """The mix-weighted mean of ``key`` over the mix's endpoints, if all were measured."""
    weights = {
        "read": inputs.mix_read,
        "presign": inputs.mix_presign,
        "enqueue": inputs.mix_enqueue,
    }
    weighted = 0.0
    for name in MIX_ENDPOINTS:
        value = scenarios.get(name, {}).get(key)
        if value is None:
            return None
        weighted += weights[name] * float(value)
    return weighted / sum(weights.values())


def measured_inputs(results: Mapping[str, Any], inputs: Inputs) -> Inputs:
    """``inputs`` with what a bench run measured (results.json of ``python -m bench all``)."""
    found: dict[str, Any] = {}
    coldstart = results.get("coldstart") or {}
    if "app_init_ms" in coldstart:
        found["lambda_init_ms"] = float(coldstart["app_init_ms"])
    load = results.get("load") or {}
    warm = load.get("lambda_warm") or {}
    derived: dict[str, Any] = {}
    if duration := _mixed(warm, "mean_ms", inputs):
        found["lambda_duration_ms"] = duration
        # An assumption about Lambda's CPU, applied because the duration is local.
        derived["lambda_cpu_scale"] = max(1.0, LAMBDA_MB_PER_VCPU / inputs.lambda_memory_mb)
    for key, name in (("log_bytes", "lambda_log_bytes"), ("log_events", "lambda_log_events")):
        if (value := _mixed(warm, key, inputs)) is not None:
            found[name] = value
    scenarios = load.get("scenarios") or {}
    for key, name in (
        ("server_cpu_ms", "server_cpu_ms"),
        ("log_bytes", "container_log_bytes"),
        ("log_events", "container_log_events"),
        ("request_bytes", "request_bytes"),
        ("response_bytes", "response_bytes"),
    ):
        if (value := _mixed(scenarios, key, inputs)) is not None:
            found[name] = value
    return inputs.replace(**found, **derived, measured=inputs.measured | set(found))


def latest_results(results_dir: Path = RESULTS_DIR) -> Path | None:
    """The newest bench/results/<date>-<sha>/results.json, if any."""
    runs = sorted(results_dir.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return runs[-1] if runs else None


# --- the model --------------------------------------------------------------------------------


class Model:
    """Line items per target at a given average RPS (USD per month, unrounded)."""

    def __init__(self, inputs: Inputs, prices: Prices) -> None:
        self.inputs = inputs
        self.prices = prices
        self.hours = prices.hours_per_month

    # Per-month volumes
    def requests(self, rps: float) -> float:
        return rps * self.prices.seconds_per_month

    def jobs(self, rps: float) -> float:
        """Jobs per month: one per enqueue, one ``ingest`` per upload."""
        return self.requests(rps) * (self.inputs.mix_enqueue + self.inputs.mix_presign)

    def _gb(self, rps: float, bytes_per_request: float) -> float:
        return self.requests(rps) * bytes_per_request / GB

    def _lambda_gb_s(self, seconds: float, memory_mb: float) -> float:
        price = self.prices[f"lambda_gb_second_{self.inputs.lambda_architecture}"]
        return price.cost(seconds * memory_mb / 1024)

    def _logs(self, standard_gb: float, lambda_gb: float = 0.0) -> float:
        """Ingest (Lambda's own logs at the vended-log tiers), and a month of storage
        (30-day retention) at the archive's compression."""
        p = self.prices
        stored = (standard_gb + lambda_gb) * self.inputs.logs_compression
        return (
            p["logs_ingest_gb"].cost(standard_gb)
            + p["logs_ingest_lambda_gb"].cost(lambda_gb)
            + p["logs_storage_gb_month"].cost(stored)
        )

    # Trident-Shared, with the volumes each target sends through it
    def shared(
        self, rps: float, *, nat_gb: float, log_gb: float, lambda_log_gb: float = 0.0
    ) -> dict[str, float]:
        i, p, hours = self.inputs, self.prices, self.hours
        db_class = i.db_instance_class.removeprefix("db.")
        copies = 2 if i.db_multi_az else 1
        sqs_requests = self.jobs(rps) * i.sqs_requests_per_job + i.sqs_polls_per_month
        uploads = self.requests(rps) * i.mix_presign
        items = {
            "nat": p["nat_gateway_hour"].cost(i.nat_gateways * hours)
            + p["nat_gateway_gb"].cost(nat_gb),
            "public_ipv4": p["public_ipv4_hour"].cost(i.nat_gateways * hours),
            "rds_instance": p[f"rds_hour_db_{db_class.replace('.', '_')}"].cost(copies * hours),
            "rds_storage": p["rds_gp3_gb_month"].cost(copies * i.db_storage_gb),
            "sqs": p["sqs_request"].cost(sqs_requests),
            "s3": p["s3_put_request"].cost(uploads * i.s3_puts_per_upload)
            + p["s3_get_request"].cost(uploads * i.s3_gets_per_upload),
            "secrets_manager": p["secret_month"].cost(i.secrets),
            "kms": p["kms_key_month"].cost(i.kms_keys),
            "cloudwatch_logs": self._logs(log_gb + i.shared_log_gb, lambda_log_gb),
        }
        if i.sqs_endpoint:
            items["sqs_endpoint"] = p["interface_endpoint_hour"].cost(2 * hours)
        return items

    def _alarms(self, count: int) -> float:
        return self.prices["alarm_month"].cost(count + 1)  # + the DLQ alarm in Shared

    def lambda_(self, rps: float) -> dict[str, float]:
        i, p = self.inputs, self.prices
        requests = self.requests(rps)
        billed_s = math.ceil(i.lambda_duration_ms * i.lambda_cpu_scale) / 1000
        init_s = math.ceil(i.lambda_init_ms) / 1000
        jobs = self.jobs(rps)
        job_invokes = jobs / i.jobs_batch_size
        housekeeping = self.hours * 12  # every 5 minutes
        function_log_bytes = i.lambda_log_bytes + 26 * i.lambda_log_events
        function_log_bytes += i.platform_log_bytes + 26 * 3
        function_log_gb = self._gb(rps, function_log_bytes) + jobs * (i.job_log_bytes + 26) / GB
        items = {
            "lambda_requests": p["lambda_request"].cost(requests),
            "lambda_compute": self._lambda_gb_s(requests * billed_s, i.lambda_memory_mb),
            "lambda_init": self._lambda_gb_s(
                requests * i.cold_start_rate * init_s, i.lambda_memory_mb
            ),
            "http_api_requests": p["http_api_request"].cost(requests),
            "rds_proxy": p["rds_proxy_vcpu_hour"].cost(
                max(2, instance_vcpus(i.db_instance_class)) * self.hours
            ),
            "lambda_jobs": p["lambda_request"].cost(job_invokes + housekeeping)
            + self._lambda_gb_s(jobs * i.job_duration_ms / 1000, i.jobs_lambda_memory_mb)
            + self._lambda_gb_s(housekeeping * i.housekeeping_ms / 1000, 512),
            "data_transfer_out": p["data_transfer_out"].cost(self._gb(rps, i.response_bytes)),
            # Errors + throttles x 3 functions, RDS Proxy pinned sessions.
            "cloudwatch_alarms": self._alarms(7),
        }
        # Only the API function's SendMessage leaves through the NAT gateway: the SQS event
        # source polls from AWS's side, and S3 has a gateway endpoint.
        nat_gb = requests * i.mix_enqueue * i.aws_call_bytes / GB
        access_log_gb = self._gb(rps, i.http_api_log_bytes + 26)
        shared = self.shared(
            rps, nat_gb=nat_gb, log_gb=access_log_gb, lambda_log_gb=function_log_gb
        )
        return items | shared

    def _entry(self, rps: float) -> dict[str, float]:
        """ALB, and CloudFront in front of it unless the stack has a domain (direct ALB)."""
        i, p = self.inputs, self.prices
        new_per_s = rps * i.alb_new_connections_per_request * (1 if not i.direct_alb else 5)
        lcu = max(
            new_per_s / 25,
            new_per_s * 60 / 3000,  # connections stay open up to the 60 s idle timeout
            rps * (i.request_bytes + i.response_bytes) * 3600 / GB,
        )
        items = {"alb": p["alb_hour"].cost(self.hours) + p["alb_lcu_hour"].cost(lcu * self.hours)}
        out_gb = self._gb(rps, i.response_bytes)
        if i.direct_alb:
            items["data_transfer_out"] = p["data_transfer_out"].cost(out_gb)
            items["alb_public_ipv4"] = p["public_ipv4_hour"].cost(2 * self.hours)
        else:
            items["cloudfront_requests"] = p["cloudfront_https_request"].cost(self.requests(rps))
            items["cloudfront_data"] = p["cloudfront_data_out"].cost(out_gb) + p[
                "cloudfront_to_origin"
            ].cost(self._gb(rps, i.request_bytes))
            items["access_logs"] = p["s3_gb_month"].cost(
                self._gb(rps, i.access_log_bytes) * i.access_log_months
            )
        return items

    def _container_traffic(self, rps: float) -> tuple[float, float]:
        """(NAT GB, log GB) of a container target: logs leave through the NAT gateway, and so
        do the web tier's SendMessage and the worker's receive and delete calls."""
        i = self.inputs
        log_gb = self._gb(rps, i.container_log_bytes + 26 * i.container_log_events)
        log_gb += self.jobs(rps) * (i.job_log_bytes + 26) / GB
        calls = self.requests(rps) * i.mix_enqueue + self.jobs(rps) * 2
        return log_gb + calls * i.aws_call_bytes / GB, log_gb

    def peak_vcpus(self, rps: float) -> tuple[float, float]:
        """(web, jobs) vCPUs busy at the peak."""
        i = self.inputs
        peak = rps * i.peak_ratio
        jobs_per_s = peak * (i.mix_enqueue + i.mix_presign)
        return peak * i.server_cpu_ms / 1000, jobs_per_s * i.job_cpu_ms / 1000

    def fargate_tasks(self, rps: float) -> tuple[int, int]:
        i = self.inputs
        web, jobs = self.peak_vcpus(rps)
        usable = i.cpu_target_percent / 100
        tasks = max(i.min_tasks, _units(web / (i.fargate_cpu / 1024 * usable)))
        workers = max(
            i.fargate_worker_min_tasks, _units(jobs / (i.fargate_worker_cpu / 1024 * usable))
        )
        return tasks, workers

    def fargate(self, rps: float) -> dict[str, float]:
        i, p = self.inputs, self.prices
        arch = i.fargate_architecture
        vcpu, gb = p[f"fargate_vcpu_hour_{arch}"], p[f"fargate_gb_hour_{arch}"]
        tasks, workers = self.fargate_tasks(rps)
        hours = self.hours
        items = {
            "fargate_vcpu": vcpu.cost(tasks * i.fargate_cpu / 1024 * hours),
            "fargate_memory": gb.cost(tasks * i.fargate_memory / 1024 * hours),
            "fargate_worker": vcpu.cost(workers * i.fargate_worker_cpu / 1024 * hours)
            + gb.cost(workers * i.fargate_worker_memory / 1024 * hours),
            **self._entry(rps),
            "container_insights": p["metric_month"].cost(i.container_insights_metrics),
            "ecr_storage": p["ecr_storage_gb_month"].cost(i.ecr_image_gb),
            # Target tracking on CPU and requests (2 alarms each), worker step scaling (2).
            "cloudwatch_alarms": self._alarms(6),
        }
        nat_gb, log_gb = self._container_traffic(rps)
        return _merge(items, self.shared(rps, nat_gb=nat_gb, log_gb=log_gb))

    def ec2_instances(self, rps: float) -> int:
        i = self.inputs
        web, jobs = self.peak_vcpus(rps)  # the worker runs on the same instances
        usable = instance_vcpus(i.ec2_instance_type) * i.cpu_target_percent / 100
        return max(i.min_instances, _units((web + jobs) / usable))

    def ec2(self, rps: float) -> dict[str, float]:
        i, p = self.inputs, self.prices
        count = self.ec2_instances(rps)
        items = {
            "ec2_instances": p[f"ec2_hour_{i.ec2_instance_type.replace('.', '_')}"].cost(
                count * self.hours
            ),
            "ebs": p["ebs_gp3_gb_month"].cost(count * i.ec2_volume_gb),
            "ec2_detailed_monitoring": p["metric_month"].cost(count * i.ec2_monitoring_metrics),
            **self._entry(rps),
            "cloudwatch_alarms": self._alarms(2),  # CPU target tracking
        }
        nat_gb, log_gb = self._container_traffic(rps)
        return _merge(items, self.shared(rps, nat_gb=nat_gb, log_gb=log_gb))

    def line_items(self, target: str, rps: float) -> dict[str, float]:
        by_target: dict[str, Callable[[float], dict[str, float]]] = {
            "lambda": self.lambda_,
            "fargate": self.fargate,
            "ec2": self.ec2,
        }
        return by_target[target](rps)

    def total(self, target: str, rps: float) -> float:
        return sum(self.line_items(target, rps).values())

    def crossover(self, target: str, *, high: int = CROSSOVER_MAX_RPS) -> int | None:
        """The lowest whole average RPS at which ``target`` costs less than Lambda.

        Container costs step with task counts, so the comparison can flip more than once:
        a geometric scan finds the first RPS where ``target`` is cheaper, then bisection
        narrows the bracket before it down to 1 RPS.
        """

        def cheaper(rps: float) -> bool:
            return self.total(target, rps) < self.total("lambda", rps)

        if cheaper(1):
            return 1
        previous = 1
        for step in range(1, 401):
            rps = math.ceil(float(high) ** (step / 400))
            if rps <= previous:
                continue
            if cheaper(rps):
                low, up = previous, int(rps)  # not cheaper at low, cheaper at up
                while up - low > 1:
                    middle = (low + up) // 2
                    if cheaper(middle):
                        up = middle
                    else:
                        low = middle
                return up
            previous = rps
        return None

    def notes(self) -> list[str]:
        """What the model leaves out or where the stack's limits bind."""
        i = self.inputs
        notes = [
            "Free tiers are not applied; Savings Plans, reserved instances and Spot are not "
            "modelled (on-demand list prices).",
            f"The database is db.{i.db_instance_class.removeprefix('db.')} at every RPS: "
            "whether it carries the load "
            "is not modelled (see the connection budget in deployment/settings.py).",
            "Uploaded and exported objects' storage grows with use, not with RPS, and is "
            "not priced; neither are SNS alarm e-mails, image pulls and the packages an "
            "instance downloads at boot. RDS backups (7 days) stay within the free allowance "
            "of the allocated storage.",
            "Measured request and response sizes are the bench's own requests (no browser "
            "headers or cookies): real clients send more.",
        ]
        for rps in i.rps:
            tasks, _ = self.fargate_tasks(rps)
            if tasks > i.fargate_max_tasks:
                notes.append(
                    f"At {_key(rps)} RPS the peak needs {tasks} Fargate web tasks; the stack "
                    f"scales to fargate_max_tasks={i.fargate_max_tasks}: raise it at deploy."
                )
            count = self.ec2_instances(rps)
            if count > i.ec2_max_instances:
                notes.append(
                    f"At {_key(rps)} RPS the peak needs {count} {i.ec2_instance_type} "
                    f"instances; the stack scales to ec2_max_instances={i.ec2_max_instances}."
                )
        return notes


def _units(needed: float) -> int:
    """Whole tasks or instances for ``needed`` of them (7.000000000000001 is 7)."""
    return math.ceil(round(needed, 9))


def _merge(own: dict[str, float], shared: dict[str, float]) -> dict[str, float]:
    merged = dict(own)
    for name, usd in shared.items():
        merged[name] = merged.get(name, 0.0) + usd
    return merged


def _key(rps: float) -> str:
    """JSON key of an RPS: ``10000``, or ``0.5``."""
    return str(int(rps)) if float(rps).is_integer() else repr(float(rps))


def model(inputs: Inputs, prices: Prices | None = None) -> dict[str, Any]:
    """The whole JSON document (see the module docstring)."""
    engine = Model(inputs, prices or load_prices())
    monthly: dict[str, dict[str, float]] = {}
    items: dict[str, dict[str, dict[str, float]]] = {}
    for target in TARGETS:
        monthly[target], items[target] = {}, {}
        for rps in inputs.rps:
            lines = engine.line_items(target, rps)
            items[target][_key(rps)] = {name: round(usd, 2) for name, usd in lines.items()}
            monthly[target][_key(rps)] = round(sum(lines.values()), 2)
    return {
        "monthly_usd": monthly,
        "line_items": items,
        "crossover_rps": {target: engine.crossover(target) for target in ("fargate", "ec2")},
        "sizing": {
            _key(rps): {
                "fargate_web_tasks": engine.fargate_tasks(rps)[0],
                "fargate_worker_tasks": engine.fargate_tasks(rps)[1],
                "ec2_instances": engine.ec2_instances(rps),
            }
            for rps in inputs.rps
        },
        "assumptions": inputs.assumptions(),
        "notes": engine.notes(),
        "prices": {
            name: {
                "usd": price.usd,
                "tiers": [list(tier) for tier in price.tiers] or None,
                "per": price.per,
                "unit": price.unit,
                "checked": price.checked,
                "source": price.source,
            }
            for name, price in engine.prices.items.items()
        },
    }


# --- CLI --------------------------------------------------------------------------------------


def _parse_value(name: str, raw: str) -> Any:
    kinds = {spec.name: spec.type for spec in fields(Inputs)}
    if name not in kinds or name == "measured":
        raise SystemExit(f"--set: unknown input {name!r}; see `python -m bench cost --json`")
    kind = str(kinds[name])
    if kind == "bool":
        return raw.lower() in {"1", "true", "yes", "on"}
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind.startswith("tuple"):
        return tuple(float(part) for part in raw.split(","))
    return raw


def build_inputs(args: argparse.Namespace) -> Inputs:
    inputs = Inputs()
    if not args.no_measured:
        path = args.measured or latest_results()
        if path is not None and path.exists():
            inputs = measured_inputs(json.loads(path.read_text()), inputs)
    flags: dict[str, Any] = {}
    for name in (
        "peak_ratio",
        "lambda_memory_mb",
        "lambda_init_ms",
        "cold_start_rate",
        "server_cpu_ms",
        "min_tasks",
        "min_instances",
    ):
        if (value := getattr(args, name)) is not None:
            flags[name] = value
    if args.rps:
        flags["rps"] = tuple(float(part) for part in args.rps.split(","))
    if args.lambda_duration_ms is not None:
        # A duration on Lambda itself: no conversion from this machine's timing.
        flags["lambda_duration_ms"] = args.lambda_duration_ms
        flags["lambda_cpu_scale"] = 1.0
    elif "lambda_memory_mb" in flags and "lambda_duration_ms" in inputs.measured:
        flags["lambda_cpu_scale"] = max(1.0, LAMBDA_MB_PER_VCPU / flags["lambda_memory_mb"])
    if args.direct_alb:
        flags["direct_alb"] = True
    for item in args.set or ():
        name, _, raw = item.partition("=")
        flags[name.strip()] = _parse_value(name.strip(), raw.strip())
    return inputs.replace(**flags, measured=inputs.measured - set(flags))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench cost", description=(__doc__ or "").split("\n", 1)[0]
    )
    p.add_argument("--rps", help="comma-separated average RPS values (default 1,10,100,1000,10000)")
    p.add_argument("--peak-ratio", type=float)
    p.add_argument("--lambda-duration-ms", type=float, help="mean API invoke on Lambda")
    p.add_argument("--lambda-memory-mb", type=int)
    p.add_argument("--lambda-init-ms", type=float)
    p.add_argument("--cold-start-rate", type=float, help="cold starts per invoke, e.g. 0.01")
    p.add_argument("--server-cpu-ms", type=float, help="container CPU ms per request")
    p.add_argument("--min-tasks", type=int, help="Fargate web tasks at least")
    p.add_argument("--min-instances", type=int, help="EC2 instances at least")
    p.add_argument("--direct-alb", action="store_true", help="internet-facing ALB, no CloudFront")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="any other input")
    p.add_argument("--measured", type=Path, help="results.json to take measurements from")
    p.add_argument("--no-measured", action="store_true", help="assumptions only")
    p.add_argument("--json", action="store_true")
    return p


def render_text(document: Mapping[str, Any]) -> str:
    rps_keys = list(next(iter(document["monthly_usd"].values())))
    lines = [f"{'avg RPS':>10} " + " ".join(f"{t:>12}" for t in TARGETS)]
    for key in rps_keys:
        row = " ".join(f"{document['monthly_usd'][t][key]:>12,.2f}" for t in TARGETS)
        lines.append(f"{key:>10} {row}")
    for target, rps in document["crossover_rps"].items():
        lines.append(f"{target} cheaper than lambda from: {rps if rps else 'never'} RPS")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    document = model(build_inputs(args))
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write(render_text(document) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
