"""The alarms deployments roll back on (Lambda's CodeDeploy group, ECS deployment alarms)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct


def rollback_alarm(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    metric: cloudwatch.IMetric,
    threshold: float,
    topic: sns.ITopic,
    evaluation_periods: int = 1,
    alarm_name: str | None = None,
) -> cloudwatch.Alarm:
    """Above ``threshold`` in one period, or in 2 of ``evaluation_periods`` when more (one slow
    minute alone does not roll back). No data is not breaching: a quiet deploy goes on. The
    alarm topic hears of it, so a rollback is told as it starts."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_name=alarm_name,
        alarm_description=f"{description} (rollback)",
        metric=metric,
        threshold=threshold,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=min(2, evaluation_periods),
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cw_actions.SnsAction(topic))
    return alarm


def per_minute(
    namespace: str, name: str, dimensions: dict[str, str], statistic: str = "Sum", label: str = ""
) -> cloudwatch.Metric:
    """A metric by the minute: what the dashboards plot and the rollback alarms watch."""
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=Duration.minutes(1),
        label=label or None,
    )
