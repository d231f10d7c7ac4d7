"""``.ci/chromium``: what ``make test`` does first about the browser test's browser.

Each case runs the script with a ``PATH`` of our own making, so the machine's real browser
(which ``make test`` has already found or installed) cannot answer for the fake ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / ".ci" / "chromium"


@pytest.fixture
def bin_dir() -> Iterator[Path]:
    """World-readable, so the script can also run as an unprivileged user from here."""
    path = Path(tempfile.mkdtemp(prefix="trident-bin-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def fake(bin_dir: Path, name: str, body: str) -> Path:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def run(
    bin_dir: Path, *args: str, user: int | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*args] or [str(SCRIPT)],
        env={"PATH": str(bin_dir), **env},
        capture_output=True,
        text=True,
        check=False,
        user=user,
        timeout=60,
    )


def is_debian() -> bool:
    try:
        return "\nID=debian\n" in "\n" + Path("/etc/os-release").read_text()
    except OSError:
        return False


def test_a_browser_on_path_is_accepted(bin_dir: Path) -> None:
    chrome = fake(bin_dir, "google-chrome", 'echo "Google Chrome 131.0.6778.85"')
    result = run(bin_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{chrome}\n"


def test_chromium_variable_wins_and_must_be_a_browser(bin_dir: Path) -> None:
    fake(bin_dir, "chromium", 'echo "Chromium 156.0.8078.114"')
    mine = fake(bin_dir, "my-chrome", 'echo "Google Chrome for Testing 131.0"')
    assert run(bin_dir, CHROMIUM=str(mine)).stdout == f"{mine}\n"

    result = run(bin_dir, CHROMIUM="/bin/true")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "make test: CHROMIUM=/bin/true is not a working Chromium or Chrome"
        " (`/bin/true --version` must name it)"
    ]


def test_a_snap_shim_is_not_a_browser_and_the_user_is_told_what_to_install(
    bin_dir: Path,
) -> None:
    fake(
        bin_dir,
        "chromium-browser",
        "echo \"Command '/usr/bin/chromium-browser' requires the chromium snap\"; exit 1",
    )
    result = run(bin_dir)  # no apt-get on this PATH: nothing can be installed
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "make test: the browser test needs Chromium or Google Chrome: install one from your"
        " distribution or google.com/chrome (or set CHROMIUM=/path/to/chrome)"
    ]


def test_without_root_debian_users_get_the_apt_command_and_nothing_is_installed(
    bin_dir: Path,
) -> None:
    marker = bin_dir / "apt-get-ran"
    fake(bin_dir, "apt-get", f"touch {marker}")
    user = 65534 if os.geteuid() == 0 else None  # nobody
    result = run(bin_dir, user=user)
    assert result.returncode == 1
    expected = (
        "make test: the browser test needs Chromium: run `sudo apt-get install chromium`"
        " (or set CHROMIUM=/path/to/chrome)"
        if is_debian()
        else "make test: the browser test needs Chromium or Google Chrome: install one from"
        " your distribution or google.com/chrome (or set CHROMIUM=/path/to/chrome)"
    )
    assert result.stderr.splitlines() == [expected]
    assert not marker.exists()


def test_make_test_stops_before_anything_runs(bin_dir: Path) -> None:
    for tool in ("find", "make"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    result = run(bin_dir, str(bin_dir / "make"), "-C", str(REPO), "--no-print-directory", "test")
    assert result.returncode != 0
    assert result.stdout == ""  # no recipe echoed: not the bootstrap, not ruff, not pytest
    assert result.stderr.splitlines()[0].startswith(
        "make test: the browser test needs Chromium or Google Chrome: install one"
    )
