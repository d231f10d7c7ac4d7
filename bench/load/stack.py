"""The local stack the load runs against (``app.local.stack``: PostgreSQL migrated, moto with
a bucket and queues of this run's own) and the app's configuration on it."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

JWT_KEYS = {"bench": "b" * 48}


@dataclass
class Stack:
    database_url: str
    aws_endpoint: str
    bucket: str
    queue_url: str
    dlq_url: str
    workdir: Path
    # The user, file and job the authenticated scenarios read, made once through the API.
    token: str = ""
    file_id: str = ""
    job_id: str = ""

    def server_env(self, **extra: str) -> dict[str, str]:
        """The full app as a container target runs it (TARGET=fargate, the pool Trident-Fargate
        deploys), on this stack."""
        from deployment.settings import DeploySettings

        deployed = DeploySettings()
        return {
            "TARGET": "fargate",
            "DB_POOL_SIZE": str(deployed.fargate_db_pool_size),
            "DB_MAX_OVERFLOW": str(deployed.fargate_db_max_overflow),
            "DATABASE_URL": self.database_url,
            "DB_SSLMODE": "disable",  # a Unix socket here; TLS to RDS on AWS
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "S3_BUCKET": self.bucket,
            "JOBS_QUEUE_URL": self.queue_url,
            "JOBS_DLQ_URL": self.dlq_url,
            "JWT_SIGNING_KEYS": json.dumps(JWT_KEYS),
            "JWT_ACTIVE_KID": "bench",
            "DATA_DIR": str(self.workdir / "data"),
            # The presign rate limit (60/min per user) would turn the run into 429s.
            "FILES_PRESIGN_MAX_PER_WINDOW": "1000000000",
            "LOG_LEVEL": "INFO",  # production's level: log volume is part of the cost
            # Only the one login before the run hashes a password: keep it quick.
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "8192",
            "ARGON2_PARALLELISM": "1",
            **extra,
        }

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@contextlib.contextmanager
def local_stack(
    workdir: Path, *, database_url: str | None = None, aws_endpoint: str | None = None
) -> Iterator[Stack]:
    """The local stack (PostgreSQL migrated, moto with a bucket and queues of this run's own),
    either service given instead."""
    from app.local.stack import local_stack as start_stack

    suffix = os.urandom(4).hex()
    with start_stack(
        pgdata=workdir / "pg",
        database_url_given=database_url,
        aws_endpoint_given=aws_endpoint,
        bucket=f"bench-{suffix}",
        queue=f"bench-jobs-{suffix}",
        upload_events=False,
    ) as local:
        # The load client signs its own S3 and SQS calls to moto.
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(name, local.env()[name])
        yield Stack(
            database_url=local.database_url,
            aws_endpoint=local.aws.endpoint_url,
            bucket=local.aws.bucket,
            queue_url=local.aws.jobs_queue_url,
            dlq_url=local.aws.dead_letter_queue_url,
            workdir=workdir,
        )
