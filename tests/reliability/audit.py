"""``make audit``: known vulnerabilities in the locked dependencies (pip-audit), and what the
CDK checks let through.

``python -m tests.reliability.audit requirements.lock [more.lock ...]`` runs pip-audit;
``python -m tests.reliability.audit --cdk cdk.out`` summarises a synthesized assembly's cdk-nag
acknowledgments (``make synth`` has already failed on any unacknowledged finding and printed
cfn-lint's results) and fails on one without a reason.

Offline-tolerant: when the vulnerability service cannot be reached, or cannot answer for some
packages, this says so plainly and does not pretend they were audited. Exit status: 1 if a
vulnerability was found, else 0 (set AUDIT_STRICT=1 to also fail when anything went unaudited).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

UNREACHABLE = ("ConnectionError", "Max retries exceeded", "Temporary failure in name resolution")


@dataclass
class AuditResult:
    lock: str
    audited: int = 0
    vulnerable: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unreachable: str | None = None


def audit_lock(lock: Path) -> AuditResult:
    result = AuditResult(lock=str(lock))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            str(lock),
            # The lock pins every package already: audit exactly those, install nothing.
            "--no-deps",
            "--disable-pip",
            "--format",
            "json",
            "--progress-spinner",
            "off",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        reason = next((m for m in UNREACHABLE if m in run.stderr), None)
        result.unreachable = reason or (run.stderr.strip().splitlines() or ["no output"])[-1]
        return result
    for dependency in report.get("dependencies", []):
        if "skip_reason" in dependency:
            result.skipped.append(dependency["name"])
            continue
        name = f"{dependency['name']}=={dependency['version']}"
        result.audited += 1
        for vuln in dependency.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            result.vulnerable.append(f"{name}: {vuln['id']} (fixed in {fixes})")
    return result


def report(results: list[AuditResult]) -> int:
    out = sys.stdout
    unaudited = False
    for result in results:
        total = result.audited + len(result.skipped)
        if result.unreachable:
            unaudited = True
            out.write(
                f"pip-audit {result.lock}: NOT AUDITED - the vulnerability service is "
                f"unreachable from here ({result.unreachable}).\n"
            )
            continue
        out.write(
            f"pip-audit {result.lock}: {result.audited}/{total} packages audited, "
            f"{len(result.vulnerable)} known vulnerabilities\n"
        )
        for line in result.vulnerable:
            out.write(f"  VULNERABLE {line}\n")
        if result.skipped:
            unaudited = True
            out.write(
                f"  {len(result.skipped)} packages could not be looked up (the service had no "
                f"answer for them here, e.g. a registry mirror without per-version data): "
                f"{', '.join(result.skipped[:8])}{' ...' if len(result.skipped) > 8 else ''}\n"
            )
    if any(result.vulnerable for result in results):
        return 1
    if unaudited:
        out.write("pip-audit: incomplete - run `make audit` where PyPI's JSON API is reachable.\n")
        return 1 if os.environ.get("AUDIT_STRICT") == "1" else 0
    return 0


# Shorter than this is a label, not a reason.
MIN_REASON_CHARS = 20


def nag_summary(outdir: Path) -> int:
    """Acknowledged cdk-nag (and CloudFormation validation) findings per stack, from the
    assembly's metadata; 1 if any lacks a real reason."""
    out = sys.stdout
    unjustified: list[str] = []
    for metadata in sorted(outdir.glob("*.metadata.json")):
        stack = metadata.name.removesuffix(".metadata.json")
        rules: dict[str, str] = {}
        for path, entries in json.loads(metadata.read_text()).items():
            for entry in entries:
                if entry.get("type") == "aws:cdk:acknowledged-rules":
                    for rule, reason in entry["data"].items():
                        rules[f"{path} {rule}"] = reason
                        if len(str(reason).strip()) < MIN_REASON_CHARS:
                            unjustified.append(f"{path} {rule}: {reason!r}")
        by_rule: dict[str, int] = {}
        for key in rules:
            rule = key.split(" ", 1)[1].removeprefix("Annotation::").split("[")[0]
            by_rule[rule] = by_rule.get(rule, 0) + 1
        listed = ", ".join(f"{rule} x{count}" for rule, count in sorted(by_rule.items()))
        out.write(f"cdk-nag {stack}: {len(rules)} acknowledged findings ({listed or 'none'})\n")
    for line in unjustified:
        out.write(f"  UNJUSTIFIED {line}\n")
    out.write(f"cdk-nag: {len(unjustified)} acknowledgments without a reason\n")
    return 1 if unjustified else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--cdk"]:
        return nag_summary(Path(argv[1] if len(argv) > 1 else "cdk.out"))
    locks = [Path(arg) for arg in argv] or [Path("requirements.lock")]
    return report([audit_lock(lock) for lock in locks])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
