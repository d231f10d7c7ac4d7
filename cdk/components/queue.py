"""The jobs queue and its dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.components.nag import acknowledge


class JobsQueue(Construct):
    """Exposes ``queue`` and ``dlq``.

    ``max_receive_count`` is the redrive policy and must equal the app's JOBS_MAX_RECEIVE_COUNT
    (the attempt that reaches it marks the job dead); ``visibility_timeout_s`` is the app's
    JOBS_VISIBILITY_TIMEOUT_S. Stacks pass both from the same setting.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        max_receive_count: int,
        visibility_timeout_s: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.max_receive_count = max_receive_count
        self.visibility_timeout_s = visibility_timeout_s
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_timeout_s),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dlq, max_receive_count=max_receive_count
            ),
        )
        acknowledge(
            self.dlq,
            {"AwsSolutions-SQS3": "This is the dead-letter queue of the jobs queue."},
        )

    def dlq_depth_alarm(self, scope: Construct, construct_id: str) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_description="Jobs reached the dead-letter queue (see GET /v1/jobs?status=dead).",
            metric=self.dlq.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
