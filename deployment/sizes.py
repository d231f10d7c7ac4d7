"""The sizes each process of a deployment runs with, as the app's environment variables.

One definition: the stacks set exactly these on every function, task and instance
(``cdk/components/app_env.py``), the cost model reads the same ``DeploySettings``, and
``tests/cdk/test_sizes.py`` builds the app's own ``Settings`` from each synthesized
environment and checks the app would run with these values. A size the app defaults on its
own (its per-target defaults) therefore never decides how the cloud runs.
"""

from __future__ import annotations

from deployment.settings import DeploySettings

# A deployment's processes: target, then what the process does.
ROLES = (
    "lambda-api",
    "lambda-jobs",
    "lambda-mi-api",
    "fargate-web",
    "fargate-worker",
    "ec2-web",
    "ec2-worker",
)
# One connection per process, which serves one request at a time: an on-demand execution
# environment, or one of a managed instance environment's processes (each its own engine);
# RDS Proxy multiplexes them onto the database.
LAMBDA_POOL_SIZE = 1


def sized_env(settings: DeploySettings, role: str) -> dict[str, str]:
    """The sizing variables of one process of the deployment."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    target, _, process = role.partition("-")
    env = {
        "JOBS_MAX_RECEIVE_COUNT": str(settings.jobs_max_receive_count),
        "JOBS_VISIBILITY_TIMEOUT_S": str(settings.jobs_visibility_timeout_s),
        "JOBS_LEASE_S": str(settings.jobs_lease_s),
    }
    if target == "lambda":
        env |= {
            "DB_POOL_SIZE": str(LAMBDA_POOL_SIZE),
            "DB_MAX_OVERFLOW": "0",
            "DB_STATEMENT_CACHE_SIZE": str(settings.proxy_statement_cache_size),
        }
        return env
    env["WORKER_CONCURRENCY"] = str(settings.worker_concurrency)
    if process == "worker":
        return env | {"DB_POOL_SIZE": str(settings.worker_pool_size), "DB_MAX_OVERFLOW": "0"}
    if target == "fargate":
        workers = settings.fargate_web_workers
        pool, overflow = settings.fargate_db_pool_size, settings.fargate_db_max_overflow
    else:
        workers = settings.ec2_workers
        pool, overflow = settings.ec2_db_pool_size, settings.ec2_db_max_overflow
    return env | {
        "WEB_CONCURRENCY": str(workers),
        "DB_POOL_SIZE": str(pool),
        "DB_MAX_OVERFLOW": str(overflow),
        "GRACEFUL_TIMEOUT": str(settings.graceful_timeout_s),
    }
