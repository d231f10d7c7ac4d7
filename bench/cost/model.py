"""The cost model: monthly line items per target (Lambda, Lambda Managed Instances, Fargate,
EC2, each with what it sends through Trident-Shared) at an average RPS, and the RPS where each
becomes cheaper than Lambda."""

from __future__ import annotations

import math
from collections.abc import Callable

from bench.cost import choices
from bench.cost.crossover import CROSSOVER_MAX_RPS, first_whole_rps
from bench.cost.inputs import Inputs
from bench.cost.managed import MiSizing, units
from bench.cost.managed import size as mi_size
from bench.cost.prices import Prices
from deployment.settings import instance_vcpus

TARGETS = ("lambda", "lambda_mi", "fargate", "ec2")
# The targets behind an ALB (CloudFront in front, or a direct ALB with a domain of their own).
CONTAINERS = ("fargate", "ec2")
GB = 1024**3  # AWS bills data in binary gigabytes


class Model:
    """Line items per target at a given average RPS (USD per month, unrounded)."""

    def __init__(self, inputs: Inputs, prices: Prices) -> None:
        choices.check(inputs, prices)
        self.inputs = inputs
        self.prices = prices
        self.hours = prices.hours_per_month
        self.deployment = inputs.deployment()

    # Per-month volumes
    def requests(self, rps: float) -> float:
        return rps * self.prices.seconds_per_month

    def jobs(self, rps: float) -> float:
        """Jobs per month: one per enqueue, one ``ingest`` per upload."""
        return self.requests(rps) * (self.inputs.mix_enqueue + self.inputs.mix_presign)

    def _gb(self, rps: float, bytes_per_request: float) -> float:
        return self.requests(rps) * bytes_per_request / GB

    def _lambda_gb_s(self, seconds: float, memory_mb: float) -> float:
        """Lambda duration: what a Compute Savings Plan covers on Lambda."""
        price = self.prices[f"lambda_gb_second_{self.inputs.lambda_architecture}"]
        return self._covered(price.cost(seconds * memory_mb / 1024))

    def _covered(self, usd: float) -> float:
        """``usd`` of usage a Compute Savings Plan covers, at its discount."""
        return usd * (1 - self.inputs.savings_plan_discount)

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
        self,
        rps: float,
        *,
        target: str,
        pollers: float,
        nat_gb: float,
        log_gb: float,
        lambda_log_gb: float = 0.0,
    ) -> dict[str, float]:
        """``pollers``: the target's consumers long-polling the jobs queue (empty polls)."""
        i, p, hours = self.inputs, self.prices, self.hours
        db_class = i.db_instance_class.removeprefix("db.")
        copies = 2 if i.db_multi_az else 1
        polls = pollers * self.prices.seconds_per_month / i.sqs_poll_wait_s
        sqs_requests = self.jobs(rps) * i.sqs_per_job(target) + polls
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
        billed_s = i.lambda_billed() / 1000
        cold_starts = requests * i.cold_start_rate
        # A SnapStart cold start bills its restore (runtime load, after-restore hook), not init.
        init_ms = i.lambda_restore_ms if i.lambda_snapstart else i.lambda_init_ms
        init_s = math.ceil(init_ms) / 1000
        items = {
            "lambda_requests": p["lambda_request"].cost(requests),
            "lambda_compute": self._lambda_gb_s(requests * billed_s, i.lambda_memory_mb),
            "lambda_init": self._lambda_gb_s(cold_starts * init_s, i.lambda_memory_mb),
            **(choices.snapstart(i, p, cold_starts=cold_starts) if i.lambda_snapstart else {}),
            **self._lambda_front(rps),
            # Errors + throttles x 3 functions, RDS Proxy pinned sessions.
            "cloudwatch_alarms": self._alarms(7),
        }
        return items | self._lambda_shared(rps)

    def lambda_mi_size(self, rps: float) -> MiSizing:
        return mi_size(self.inputs, rps)

    def lambda_mi(self, rps: float) -> dict[str, float]:
        """The API on Lambda Managed Instances: the instances the peak keeps (EC2 price, a
        Savings Plan applies), Lambda's management fee on their on-demand price, and its
        request charge; no duration. Jobs stay on Trident-Lambda's on-demand jobs function
        (this target has no consumer), priced here as there."""
        i, p = self.inputs, self.prices
        instance_hours = self.lambda_mi_size(rps).instances * self.hours
        on_demand = p[choices.ec2_price_name(i.lambda_mi_instance_type)].cost(instance_hours)
        items = {
            "lambda_mi_instances": self._covered(on_demand),
            "lambda_mi_management": p["lambda_mi_management_fee"].cost(on_demand),
            "lambda_mi_requests": p["lambda_mi_request"].cost(self.requests(rps)),
            **self._lambda_front(rps),
            # The API function's errors + throttles, the jobs function's, the proxy's pinned
            # sessions (Trident-Shared).
            "cloudwatch_alarms": self._alarms(5),
        }
        return items | self._lambda_shared(rps)

    def _lambda_front(self, rps: float) -> dict[str, float]:
        """What a Lambda target's API pays beside its compute: the HTTP API, RDS Proxy (one,
        in Trident-Shared, for either Lambda target), the data out, and the jobs function."""
        i, p = self.inputs, self.prices
        jobs = self.jobs(rps)
        job_invokes = jobs / i.jobs_batch_size
        housekeeping = self.hours * 12  # every 5 minutes
        return {
            "http_api_requests": p["http_api_request"].cost(self.requests(rps)),
            "rds_proxy": p["rds_proxy_vcpu_hour"].cost(
                max(2, instance_vcpus(i.db_instance_class)) * self.hours
            ),
            "lambda_jobs": p["lambda_request"].cost(job_invokes + housekeeping)
            + self._lambda_gb_s(jobs * i.job_duration_ms / 1000, i.jobs_lambda_memory_mb)
            + self._lambda_gb_s(housekeeping * i.housekeeping_ms / 1000, 512),
            "data_transfer_out": p["data_transfer_out"].cost(self._gb(rps, i.response_bytes)),
        }

    def _lambda_shared(self, rps: float) -> dict[str, float]:
        """Trident-Shared with a Lambda target's volumes, its jobs consumed by the on-demand
        jobs function. Only the API's SendMessage leaves through the NAT gateway (the SQS
        event source polls from AWS's side, and S3 has a gateway endpoint); the functions'
        logs and Lambda's platform lines are vended logs."""
        i = self.inputs
        requests = self.requests(rps)
        function_log_bytes = i.lambda_log_bytes + 26 * i.lambda_log_events
        function_log_bytes += i.platform_log_bytes + 26 * 3
        jobs_log_gb = self.jobs(rps) * (i.job_log_bytes + 26) / GB
        return self.shared(
            rps,
            target="lambda",
            pollers=i.sqs_pollers_lambda,
            nat_gb=requests * i.mix_enqueue * i.aws_call_bytes / GB,
            log_gb=self._gb(rps, i.http_api_log_bytes + 26),
            lambda_log_gb=self._gb(rps, function_log_bytes) + jobs_log_gb,
        )

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
        do the web tier's SendMessage and the worker's receive and delete calls (S3 sends
        its upload events itself)."""
        i = self.inputs
        log_gb = self._gb(rps, i.container_log_bytes + 26 * i.container_log_events)
        log_gb += self.jobs(rps) * (i.job_log_bytes + 26) / GB
        worker_calls = i.sqs_per_job("containers") - 1  # all but the SendMessage
        calls = self.requests(rps) * i.mix_enqueue + self.jobs(rps) * worker_calls
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
        tasks = max(i.min_tasks, units(web / (i.fargate_cpu / 1024 * usable)))
        workers = max(
            i.fargate_worker_min_tasks, units(jobs / (i.fargate_worker_cpu / 1024 * usable))
        )
        return tasks, workers

    def fargate(self, rps: float) -> dict[str, float]:
        i, p = self.inputs, self.prices
        arch = i.fargate_architecture
        vcpu, gb = p[f"fargate_vcpu_hour_{arch}"], p[f"fargate_gb_hour_{arch}"]
        tasks, workers = self.fargate_tasks(rps)
        hours = self.hours
        worker_vcpu_h = workers * i.fargate_worker_cpu / 1024 * hours
        worker_gb_h = workers * i.fargate_worker_memory / 1024 * hours
        if i.fargate_worker_spot:  # Spot's own price, which no Savings Plan discounts
            worker = p[f"fargate_spot_vcpu_hour_{arch}"].cost(worker_vcpu_h)
            worker += p[f"fargate_spot_gb_hour_{arch}"].cost(worker_gb_h)
        else:
            worker = self._covered(vcpu.cost(worker_vcpu_h) + gb.cost(worker_gb_h))
        items = {
            "fargate_vcpu": self._covered(vcpu.cost(tasks * i.fargate_cpu / 1024 * hours)),
            "fargate_memory": self._covered(gb.cost(tasks * i.fargate_memory / 1024 * hours)),
            "fargate_worker": worker,
            **self._entry(rps),
            "container_insights": p["metric_month"].cost(i.container_insights_metrics),
            "ecr_storage": p["ecr_storage_gb_month"].cost(i.ecr_image_gb),
            # Target tracking on CPU and requests (2 alarms each), worker step scaling (2).
            "cloudwatch_alarms": self._alarms(6),
        }
        nat_gb, log_gb = self._container_traffic(rps)
        shared = self.shared(rps, target="fargate", pollers=workers, nat_gb=nat_gb, log_gb=log_gb)
        return _merge(items, shared)

    def ec2_instances(self, rps: float) -> int:
        i = self.inputs
        web, jobs = self.peak_vcpus(rps)  # the worker runs on the same instances
        usable = instance_vcpus(i.ec2_instance_type) * i.cpu_target_percent / 100
        return max(i.min_instances, units((web + jobs) / usable))

    def ec2(self, rps: float) -> dict[str, float]:
        i, p = self.inputs, self.prices
        count = self.ec2_instances(rps)
        items = {
            "ec2_instances": self._covered(
                p[choices.ec2_price_name(i.ec2_instance_type)].cost(count * self.hours)
            ),
            "ebs": p["ebs_gp3_gb_month"].cost(count * i.ec2_volume_gb),
            "ec2_detailed_monitoring": p["metric_month"].cost(count * i.ec2_monitoring_metrics),
            **self._entry(rps),
            "cloudwatch_alarms": self._alarms(2),  # CPU target tracking
        }
        nat_gb, log_gb = self._container_traffic(rps)
        # A worker on every instance.
        shared = self.shared(rps, target="ec2", pollers=count, nat_gb=nat_gb, log_gb=log_gb)
        return _merge(items, shared)

    def line_items(self, target: str, rps: float) -> dict[str, float]:
        by_target: dict[str, Callable[[float], dict[str, float]]] = {
            "lambda": self.lambda_,
            "lambda_mi": self.lambda_mi,
            "fargate": self.fargate,
            "ec2": self.ec2,
        }
        return by_target[target](rps)

    def total(self, target: str, rps: float) -> float:
        return sum(self.line_items(target, rps).values())

    def crossover(self, target: str, *, high: int = CROSSOVER_MAX_RPS) -> int | None:
        """The lowest whole average RPS at which ``target`` costs less than Lambda."""
        return first_whole_rps(
            lambda rps: self.total(target, rps) < self.total("lambda", rps), high=high
        )

    def notes(self) -> list[str]:
        """What the model leaves out or where the stack's limits bind."""
        i = self.inputs
        notes = [
            "Free tiers are not applied; prices are on-demand list prices but where "
            "fargate_worker_spot or savings_plan_discount say otherwise; reserved instances "
            "and EC2 Spot are not modelled.",
            f"The database is db.{i.db_instance_class.removeprefix('db.')} at every RPS: "
            "whether it carries the load "
            "is not modelled (see the connection budget in deployment/settings.py).",
            "Uploaded and exported objects' storage grows with use, not with RPS, and is "
            "not priced; neither are SNS alarm e-mails, image pulls and the packages an "
            "instance downloads at boot. RDS backups (7 days) stay within the free allowance "
            "of the allocated storage.",
            "Measured request and response sizes are the bench's own requests (no browser "
            "headers or cookies): real clients send more.",
            f"Lambda Managed Instances: priced as {i.lambda_mi_instance_type} only (the "
            "provider may launch any allowed type), environments packed onto instances by "
            "vCPU (the Lambda agent's own share of each instance is not modelled), sized at "
            "cpu_target_percent (Lambda's automatic scaling target is not published) with "
            "lambda_mi_cpu_ms per request; the management fee is on the on-demand price and "
            "not discounted by a Savings Plan; logs are priced as on-demand Lambda's. With "
            "Trident-Lambda deployed too, RDS Proxy and Trident-Shared are paid once.",
        ]
        return notes + choices.notes(i)


def _merge(own: dict[str, float], shared: dict[str, float]) -> dict[str, float]:
    merged = dict(own)
    for name, usd in shared.items():
        merged[name] = merged.get(name, 0.0) + usd
    return merged


def rps_key(rps: float) -> str:
    """JSON key of an RPS: ``10000``, or ``0.5``."""
    return str(int(rps)) if float(rps).is_integer() else repr(float(rps))
