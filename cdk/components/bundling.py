"""Lambda code assets: the repo's app + handlers, bundled by ``cdk/lambda_bundle.py``.

Bundling runs locally (``python -m cdk.lambda_bundle``: deps for the runtime's platform,
bytecode compiled by a 3.12 interpreter); CDK falls back to the SAM build image under Docker
only when local bundling reports it cannot run. The asset hash is computed from the source
files below plus the bundling options (``environment`` names the function and architecture),
so an unchanged tree gives an unchanged hash and no redeploy.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingFileAccess,
    BundlingOptions,
    BundlingOutput,
    DockerImage,
    DockerVolume,
    IgnoreMode,
    ILocalBundling,
)
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGE = "public.ecr.aws/sam/build-python3.12"
FUNCTIONS = ("api", "jobs", "migrate")

# Everything but the files a bundle is made from (negations re-include them).
SOURCE_EXCLUDES = [
    "*",
    ".*",
    "!app",
    "!app/**",
    "!handlers",
    "!handlers/**",
    "!cdk",
    "!cdk/__init__.py",
    "!cdk/lambda_bundle.py",
    "!pyproject.toml",
    "!requirements.lock",
    "**/__pycache__",
    "**/*.pyc",
]


@jsii.implements(ILocalBundling)
class LocalBundler:
    """Runs the bundle script with this interpreter; it finds the runtime's Python itself."""

    def __init__(self, *, function: str, architecture: str) -> None:
        self.function = function
        self.architecture = architecture

    def command(self, output_dir: str, python: str = sys.executable) -> list[str]:
        return [
            python,
            "-m",
            "cdk.lambda_bundle",
            "--function",
            self.function,
            "--arch",
            self.architecture,
            "--out",
            output_dir,
            "--no-zip",  # CDK zips the directory itself
        ]

    # The interface's exact signature: jsii fills the keyword-only parameters from the
    # BundlingOptions struct by name.
    def try_bundle(
        self,
        output_dir: str,
        *,
        image: DockerImage,
        bundling_file_access: BundlingFileAccess | None = None,
        command: Sequence[str] | None = None,
        entrypoint: Sequence[str] | None = None,
        environment: Mapping[str, str] | None = None,
        local: ILocalBundling | None = None,
        network: str | None = None,
        output_type: BundlingOutput | None = None,
        platform: str | None = None,
        security_opt: str | None = None,
        user: str | None = None,
        volumes: Sequence[DockerVolume | dict[str, Any]] | None = None,
        volumes_from: Sequence[str] | None = None,
        working_directory: str | None = None,
    ) -> bool:
        if not (REPO_ROOT / "cdk" / "lambda_bundle.py").exists():
            print("cdk/lambda_bundle.py is missing: cannot bundle locally", file=sys.stderr)  # noqa: T201
            return False
        subprocess.run(self.command(output_dir), cwd=REPO_ROOT, check=True)  # noqa: S603
        return True


def lambda_code(*, function: str, architecture: str) -> lambda_.Code:
    """The code asset of one function (``api``, ``jobs`` or ``migrate``)."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}")
    local = LocalBundler(function=function, architecture=architecture)
    return lambda_.Code.from_asset(
        str(REPO_ROOT),
        exclude=SOURCE_EXCLUDES,
        ignore_mode=IgnoreMode.GLOB,
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            image=DockerImage.from_registry(BUILD_IMAGE),
            local=local,
            command=["bash", "-c", " ".join(local.command("/asset-output", python="python"))],
            platform="linux/arm64" if architecture == "arm64" else "linux/amd64",
            environment={"TRIDENT_FUNCTION": function, "TRIDENT_ARCH": architecture},
        ),
    )
