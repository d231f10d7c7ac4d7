"""cfn-lint over a synthesized cloud assembly: ``python -m cdk.lint cdk.out``.

Lints the templates of the stacks listed in the assembly's manifest, prints each finding and
the resource count per stack, and exits non-zero on any error or unexpected warning.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Warnings we accept, each for a reason (everything else fails the check).
ACCEPTED_WARNINGS = {
    # CDK adds an explicit DependsOn next to a GetAtt that already implies it (harmless).
    "W3005": "redundant DependsOn emitted by CDK",
    # cfn-lint lists a bare major version ("16") as deprecated; RDS resolves it to the
    # current default minor, which is what we want from a template meant to last.
    "W3691": "major-only PostgreSQL engine version",
}


@dataclass
class LintReport:
    findings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    resources: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def stack_templates(outdir: Path) -> dict[str, Path]:
    """Stack name -> template path, from the assembly manifest."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    templates = {}
    for name, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") == "aws:cloudformation:stack":
            templates[name] = outdir / artifact["properties"]["templateFile"]
    return templates


def lint_assembly(outdir: Path) -> LintReport:
    from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]

    report = LintReport()
    config = ManualArgs(regions=["us-east-1"])
    for name, path in sorted(stack_templates(outdir).items()):
        template = json.loads(path.read_text())
        report.resources[name] = Counter(
            resource["Type"] for resource in template.get("Resources", {}).values()
        )
        for match in lint_file(path, config=config):
            line = f"{name}: {match.rule.id} {match.message} (line {match.linenumber})"
            report.findings.append(line)
            if match.rule.id.startswith("E") or (
                match.rule.id.startswith("W") and match.rule.id not in ACCEPTED_WARNINGS
            ):
                report.failures.append(line)
    return report


def main(argv: list[str]) -> int:
    outdir = Path(argv[0] if argv else "cdk.out")
    report = lint_assembly(outdir)
    out = sys.stdout
    for name, counts in report.resources.items():
        out.write(f"{name}: {sum(counts.values())} resources\n")
    for line in report.findings:
        out.write(f"  {line}\n")
    accepted = len(report.findings) - len(report.failures)
    out.write(
        f"cfn-lint: {len(report.failures)} failing, {accepted} accepted "
        f"({', '.join(sorted(ACCEPTED_WARNINGS))})\n"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
