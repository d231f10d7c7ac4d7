"""Lambda code assets: the repo's app + handlers, bundled by ``deployment/lambda_bundle.py``.

Bundling runs locally (``python -m deployment.lambda_bundle``: deps for the runtime's platform,
bytecode compiled by an interpreter of the runtime's version, ``-c lambda_python``). Without
that interpreter, CDK runs the same command in the SAM build image of that version under
Docker, which has it; with neither, synth stops and says so. The asset hash is computed from
the source files below plus the bundling options (``environment`` names the function,
architecture and Python), so an unchanged tree gives an unchanged hash and no redeploy.
"""

from __future__ import annotations

import shutil
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

from deployment.bytecode import BundleError, find_python
from deployment.settings import DeploySettings

REPO_ROOT = Path(__file__).resolve().parents[2]


def build_image(python_version: str) -> str:
    """SAM's build image of the runtime's Python: the Docker fallback's interpreter."""
    return f"public.ecr.aws/sam/build-python{python_version}"


FUNCTIONS = ("api", "jobs", "migrate")

# Everything but the files a bundle is made from (negations re-include them).
SOURCE_EXCLUDES = [
    "*",
    ".*",
    "!app",
    "!app/**",
    "!handlers",
    "!handlers/**",
    "!deployment",
    "!deployment/__init__.py",
    "!deployment/bytecode.py",
    "!deployment/lambda_bundle.py",
    "!deployment/lockfile.py",
    "!pyproject.toml",
    "!requirements.lock",
    "!requirements-lambda.lock",
    "!requirements-migrate.lock",
    "**/__pycache__",
    "**/*.pyc",
]


@jsii.implements(ILocalBundling)
class LocalBundler:
    """Runs the bundle script with this interpreter; it finds the runtime's Python itself."""

    def __init__(self, *, function: str, architecture: str, python_version: str) -> None:
        self.function = function
        self.architecture = architecture
        self.python_version = python_version

    def command(self, output_dir: str, python: str = sys.executable) -> list[str]:
        return [
            python,
            "-m",
            "deployment.lambda_bundle",
            "--function",
            self.function,
            "--arch",
            self.architecture,
            "--python-version",
            self.python_version,
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
        if not (REPO_ROOT / "deployment" / "lambda_bundle.py").exists():
            print("deployment/lambda_bundle.py is missing: cannot bundle locally", file=sys.stderr)  # noqa: T201
            return False
        if not self.runtime_python_available():
            return False  # CDK runs the same command in the build image under Docker
        subprocess.run(self.command(output_dir), cwd=REPO_ROOT, check=True)  # noqa: S603
        return True

    def runtime_python_available(self) -> bool:
        """Whether this machine has the runtime's interpreter; if not, whether Docker can
        stand in for it (else stop here, saying what to install, rather than at ``docker``)."""
        try:
            find_python(self.python_version)
        except BundleError as missing:
            image = build_image(self.python_version)
            if shutil.which("docker") is None:
                raise BundleError(
                    f"{missing} Without it, CDK bundles in Docker ({image}), and docker "
                    "is not on PATH either: install one of the two."
                ) from None
            print(  # noqa: T201
                f"{missing}\nBundling the {self.function} function in Docker ({image}).",
                file=sys.stderr,
            )
            return False
        return True


def bundling_options(*, function: str, architecture: str, python_version: str) -> BundlingOptions:
    """Local bundling first; the same script in the build image when it cannot run here."""
    local = LocalBundler(
        function=function, architecture=architecture, python_version=python_version
    )
    return BundlingOptions(
        image=DockerImage.from_registry(build_image(python_version)),
        local=local,
        command=["bash", "-c", " ".join(local.command("/asset-output", python="python3"))],
        platform="linux/arm64" if architecture == "arm64" else "linux/amd64",
        # HOME: the container runs as this machine's user, who has no home in the image.
        environment={
            "TRIDENT_FUNCTION": function,
            "TRIDENT_ARCH": architecture,
            "TRIDENT_PYTHON": python_version,
            "HOME": "/tmp",  # noqa: S108
        },
    )


def lambda_code(*, function: str, settings: DeploySettings, target: str = "lambda") -> lambda_.Code:
    """The code asset of one function (``api``, ``jobs`` or ``migrate``), for the architecture
    and Python ``settings`` choose for the Lambda ``target`` (``lambda`` or ``lambda-mi``)."""
    architecture, python_version = settings.lambda_runtime(target)
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}")
    return lambda_.Code.from_asset(
        str(REPO_ROOT),
        exclude=SOURCE_EXCLUDES,
        ignore_mode=IgnoreMode.GLOB,
        asset_hash_type=AssetHashType.SOURCE,
        bundling=bundling_options(
            function=function, architecture=architecture, python_version=python_version
        ),
    )
