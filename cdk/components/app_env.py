"""The app's environment variables (its pydantic Settings, upper-cased), per target.

One place maps deployment settings and shared resources to what ``app.config.Settings``
reads, so the three targets cannot drift apart. Sizes (pools, workers, queue timing) are per
process and come from ``deployment.sizes``, the one definition of them.
"""

from __future__ import annotations

from aws_cdk import Aws

from cdk.components.database import POSTGRES_PORT, Database
from cdk.components.queue import JobsQueue
from cdk.components.storage import Storage
from deployment.settings import DeploySettings


def app_environment(
    *,
    target: str,
    settings: DeploySettings,
    database: Database,
    db_host: str,
    storage: Storage,
    jobs: JobsQueue,
) -> dict[str, str]:
    """Plain (non-secret) settings. Secrets reach each target its own way: ECS secrets,
    EC2 user data, or CloudFormation dynamic references for Lambda."""
    env = {
        "TARGET": target,
        "DB_HOST": db_host,
        "DB_PORT": str(POSTGRES_PORT),
        "DB_NAME": database.database_name,
        "DB_USER": database.username,
        "DB_SSLMODE": "require",
        "S3_BUCKET": storage.bucket.bucket_name,
        "JOBS_QUEUE_URL": jobs.queue.queue_url,
        "JOBS_DLQ_URL": jobs.dlq.queue_url,
        "FILES_CORS_ORIGINS": ",".join(settings.files_origins),
        "DOCS_ENABLED": str(settings.docs_enabled).lower(),
        "LOG_LEVEL": settings.log_level,
    }
    if settings.cors_origins:
        env["CORS_ORIGINS"] = ",".join(settings.cors_origins)
    if target != "lambda":
        # Lambda sets AWS_REGION itself (and reserves the name).
        env["AWS_REGION"] = Aws.REGION
    return env
