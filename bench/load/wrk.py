"""wrk, when installed: the Lua script for a request, one run, and its output read back."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from bench.load.wire import LOOPBACK, Target

_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def wrk_lua(method: str, headers: dict[str, str], body: bytes) -> str:
    lines = [f'wrk.method = "{method}"']
    if body:
        lines.append(f"wrk.body = {json.dumps(body.decode())}")
    lines += [f'wrk.headers["{key}"] = {json.dumps(value)}' for key, value in headers.items()]
    return "\n".join(lines) + "\n"


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, latency percentiles (ms), requests, bytes read and non-2xx from ``wrk
    --latency``."""
    found: dict[str, float] = {}
    for rank in ("50", "90", "99"):
        match = re.search(rf"^\s+{rank}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if match:
            found[f"p{rank}_ms"] = float(match.group(1)) * _WRK_UNITS[match.group(2)]
    if match := re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s)", output, re.MULTILINE):
        found["mean_ms"] = float(match.group(1)) * _WRK_UNITS[match.group(2)]
    if match := re.search(r"(\d+) requests in ([\d.]+)s, ([\d.]+)(B|KB|MB|GB) read", output):
        found["requests"] = float(match.group(1))
        found["seconds"] = float(match.group(2))
        found["bytes_read"] = float(match.group(3)) * _SIZE_UNITS[match.group(4)]
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        found["rps"] = float(match.group(1))
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    found["errors"] = float(match.group(1)) if match else 0.0
    return found


def run_wrk(
    port: int,
    target: Target,
    *,
    concurrency: int,
    duration_s: float,
    prefix: list[str],
    script: Path,
) -> dict[str, float]:
    """One wrk run (whole seconds, one thread) of ``target``, its Lua written to ``script``,
    the command after ``prefix`` (CPU pinning); ``parse_wrk``'s figures."""
    script.write_text(wrk_lua(target.method, target.headers, target.body))
    command = [*prefix, "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s"]
    command += ["--latency", "-s", str(script), f"http://{LOOPBACK}:{port}{target.path}"]
    output = subprocess.run(  # noqa: S603  (wrk from PATH, our arguments)
        command, capture_output=True, text=True, check=True, timeout=duration_s + 30
    ).stdout
    return parse_wrk(output)
