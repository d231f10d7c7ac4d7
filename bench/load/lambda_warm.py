"""The Lambda warm path: the API handler in-process (the bundle, the runtime's Python),
invoked back to back with the load's endpoints against the same stack."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bench.load.results import LambdaWarm
from bench.load.scenarios import app_targets
from bench.load.servers import Pinning
from bench.load.stack import Stack
from bench.warm_invokes import invoke_warm


def lambda_warm(
    stack: Stack,
    *,
    python: Path,
    paths: list[Path],
    invokes: int,
    warmup: int,
    pinning: Pinning,
) -> dict[str, LambdaWarm]:
    """The API handler in-process (``python`` with ``paths`` first on sys.path: the bundle
    and the runtime's boto3), against this stack, for the same endpoints as the load."""
    from bench.cost.inputs import lambda_cpu_scale
    from bench.lambda_emulator import http_api_event
    from deployment.settings import DeploySettings

    env = {
        **stack.server_env(),
        "TARGET": "lambda",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "TridentBench",
    }
    events: dict[str, tuple[dict[str, Any], int]] = {}
    for target in app_targets(stack):
        headers = {key.lower(): value for key, value in target.headers.items()}
        event = http_api_event(target.method, target.path, headers=headers, body=target.body)
        events[target.name] = (event, target.expected_status)
    measured = invoke_warm(
        python=python,
        paths=paths,
        env=env,
        handler="handlers.api.handler",
        init="handlers.api.environment",
        events=events,
        warmup=warmup,
        invokes=invokes,
        prefix=pinning.server_prefix(),
    )
    # Billed at the memory the stack deploys; the cost model falls back to the rounded mean
    # when priced at another.
    scale = lambda_cpu_scale(DeploySettings().lambda_memory)
    return {name: LambdaWarm.of(samples, cpu_scale=scale) for name, samples in measured.items()}


def lambda_bundle(workdir: Path) -> tuple[Path, list[Path], str]:
    """The API bundle and the runtime beside it, as the emulator runs them:
    (python, sys.path entries, version)."""
    from bench.lambda_emulator import ensure_runtime
    from deployment.lambda_bundle import FUNCTIONS, build

    bundle = build(FUNCTIONS["api"], workdir / "lambda-api")
    version = subprocess.run(  # noqa: S603
        [str(bundle.python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return bundle.python, [bundle.root, ensure_runtime()], version
