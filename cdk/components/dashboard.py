"""One CloudWatch dashboard per target stack, from one builder.

Rows, top to bottom: what users see (requests, p50/p99 latency, 4xx/5xx), the target's compute
(Lambda invocations, init duration and cold starts / ECS tasks / EC2 instances), database
connections, the jobs queue (depth, oldest message, DLQ) and jobs succeeded/failed.

Jobs emit no metric of their own: the runner writes one JSON line per outcome
(``job succeeded``, ``job failed permanently``, ``job attempt failed`` with ``final``), and a
metric filter on the jobs' log group counts them (namespace ``Trident/<target>``). The same
lines on every target, so the three dashboards count jobs the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.components.alarms import per_minute

PERIOD = Duration.minutes(1)
WIDTH = 8  # three graphs per 24-unit row

# The runner's log lines (app/jobs/runner.py) that end a job, one way or the other.
JOB_SUCCEEDED = '{ $.msg = "job succeeded" }'
JOB_FAILED = (
    '{ ($.msg = "job failed permanently") || ($.msg = "job attempt failed" && $.final IS TRUE) }'
)


@dataclass(frozen=True)
class Traffic:
    """What users see at the front door."""

    requests: cloudwatch.IMetric
    latency: Sequence[cloudwatch.IMetric]  # p50 and p99
    client_errors: Sequence[cloudwatch.IMetric]
    server_errors: Sequence[cloudwatch.IMetric]


def http_api_traffic(api: apigwv2.IHttpApi, stage: str = "$default") -> Traffic:
    dims = {"ApiId": api.api_id, "Stage": stage}

    def api_metric(name: str, statistic: str = "Sum") -> cloudwatch.Metric:
        return per_minute("AWS/ApiGateway", name, dims, statistic, f"{name} {statistic}")

    return Traffic(
        requests=api_metric("Count"),
        latency=[api_metric("Latency", "p50"), api_metric("Latency", "p99")],
        client_errors=[api_metric("4xx")],
        server_errors=[api_metric("5xx")],
    )


def alb_traffic(
    alb: elbv2.IApplicationLoadBalancer, target_group: elbv2.IApplicationTargetGroup
) -> Traffic:
    lb = alb.metrics
    tg = target_group.metrics
    latency = [
        tg.target_response_time(statistic=stat, period=PERIOD, label=f"response time {stat} (s)")
        for stat in ("p50", "p99")
    ]
    return Traffic(
        requests=lb.request_count(period=PERIOD),
        latency=latency,
        client_errors=[tg.http_code_target(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, period=PERIOD)],
        server_errors=[
            tg.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=PERIOD),
            lb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=PERIOD),
        ],
    )


def graph(title: str, metrics: Sequence[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=WIDTH, height=6)


def _function_load(function: lambda_.IFunction) -> list[cloudwatch.IWidget]:
    """The API function's invocations and concurrency, and its duration p50 / p99."""
    return [
        graph(
            "API function: invocations, concurrency",
            [
                function.metric_invocations(period=PERIOD),
                function.metric("ConcurrentExecutions", statistic="Maximum", period=PERIOD),
            ],
        ),
        graph(
            "API function: duration p50 / p99 (ms)",
            [function.metric_duration(statistic=s, period=PERIOD) for s in ("p50", "p99")],
        ),
    ]


def lambda_widgets(
    function: lambda_.IFunction, log_group: logs.ILogGroup
) -> list[cloudwatch.IWidget]:
    """Invocations and concurrency, duration, and init duration / cold starts from the
    REPORT lines (Lambda publishes no init metric; a SnapStart restore shows as restores)."""
    return [
        *_function_load(function),
        cloudwatch.LogQueryWidget(
            title="API function: cold starts and init duration (ms)",
            log_group_names=[log_group.log_group_name],
            query_lines=[
                'filter @type = "REPORT"',
                "stats count(@initDuration) as coldStarts, count(@restoreDuration) as restores,"
                " avg(@initDuration) as initAvgMs, pct(@initDuration, 99) as initP99Ms"
                " by bin(5m)",
            ],
            view=cloudwatch.LogQueryVisualizationType.LINE,
            width=WIDTH,
            height=6,
        ),
    ]


def managed_instance_widgets(function: lambda_.IFunction) -> list[cloudwatch.IWidget]:
    """Invocations and concurrency, duration, and errors / throttles: no cold starts to
    count (environments start before they take traffic), and throttles are what scaling
    too slowly looks like (traffic more than doubling within 5 minutes)."""
    return [
        *_function_load(function),
        graph(
            "API function: errors, throttles",
            [function.metric_errors(period=PERIOD), function.metric_throttles(period=PERIOD)],
        ),
    ]


def task_count_widgets(cluster_name: str, services: dict[str, str]) -> list[cloudwatch.IWidget]:
    """ECS tasks running and desired per service (Container Insights, on for the cluster)."""
    return [
        graph(
            f"{label} tasks",
            [
                per_minute(
                    "ECS/ContainerInsights",
                    name,
                    {"ClusterName": cluster_name, "ServiceName": service},
                    "Average",
                    name,
                )
                for name in ("RunningTaskCount", "DesiredTaskCount")
            ],
        )
        for label, service in services.items()
    ]


def instance_count_widgets(
    asg_name: str, target_group: elbv2.IApplicationTargetGroup
) -> list[cloudwatch.IWidget]:
    """Instances in service (the group's metrics collection is on) and their health as the
    load balancer sees it."""
    tg = target_group.metrics
    return [
        graph(
            "EC2 instances",
            [
                per_minute(
                    "AWS/AutoScaling", name, {"AutoScalingGroupName": asg_name}, "Average", name
                )
                for name in ("GroupInServiceInstances", "GroupDesiredCapacity")
            ],
        ),
        graph(
            "EC2 targets healthy / unhealthy",
            [tg.healthy_host_count(period=PERIOD), tg.unhealthy_host_count(period=PERIOD)],
        ),
    ]


def job_outcome_metrics(
    scope: Construct, log_group: logs.ILogGroup, target: str
) -> list[cloudwatch.IMetric]:
    """Metric filters on the jobs' log group: jobs succeeded and failed (see the module doc)."""
    namespace = f"Trident/{target}"
    made: list[cloudwatch.IMetric] = []
    for name, pattern in (("jobs_succeeded", JOB_SUCCEEDED), ("jobs_failed", JOB_FAILED)):
        metric_filter = logs.MetricFilter(
            scope,
            f"{name.title().replace('_', '')}Filter",
            log_group=log_group,
            metric_namespace=namespace,
            metric_name=name,
            filter_pattern=logs.FilterPattern.literal(pattern),
            metric_value="1",
        )
        made.append(metric_filter.metric(statistic="Sum", period=PERIOD, label=name))
    return made


class TargetDashboard(Construct):
    """Exposes ``dashboard`` (named after the stack: the stack outputs the name)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        traffic: Traffic,
        compute: Sequence[cloudwatch.IWidget],
        database_instance_id: str,
        proxy_name: str | None,
        queue: sqs.IQueue,
        dlq: sqs.IQueue,
        jobs: Sequence[cloudwatch.IMetric],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        connections = [
            per_minute(
                "AWS/RDS",
                "DatabaseConnections",
                {"DBInstanceIdentifier": database_instance_id},
                "Maximum",
                "database: connections",
            )
        ]
        if proxy_name is not None:
            connections += [
                per_minute(
                    "AWS/RDS",
                    name,
                    {"ProxyName": proxy_name},
                    "Maximum",
                    f"RDS Proxy: {name}",
                )
                for name in ("ClientConnections", "DatabaseConnections")
            ]
        rows: list[list[cloudwatch.IWidget]] = [
            [
                graph("Requests", [traffic.requests]),
                graph("Latency p50 / p99", traffic.latency),
                graph("4xx / 5xx", [*traffic.client_errors, *traffic.server_errors]),
            ],
            list(compute),
            [
                graph("Database connections", connections),
                graph(
                    "Jobs queue: depth, oldest message (s)",
                    [
                        queue.metric_approximate_number_of_messages_visible(period=PERIOD),
                        queue.metric_approximate_age_of_oldest_message(period=PERIOD),
                    ],
                ),
                graph(
                    "Dead-letter queue depth",
                    [dlq.metric_approximate_number_of_messages_visible(period=PERIOD)],
                ),
            ],
        ]
        if jobs:  # a target that runs no jobs has none to count
            rows.append([graph("Jobs succeeded / failed", jobs)])
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=stack.stack_name,
            default_interval=Duration.hours(3),
            widgets=rows,
        )
