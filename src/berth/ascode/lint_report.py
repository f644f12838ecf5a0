"""The linter's findings as text, JSON and SARIF 2.1.0 (what GitHub code scanning reads)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from berth import __version__
from berth.ascode.lint import RULES, Finding

#: where a finding's path is in the file (model.Document.where); None for the live state
Where = Callable[[tuple[str | int, ...]], tuple[int, int] | None] | None

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_RULE_INDEX = {rule.id: index for index, rule in enumerate(RULES)}


def _where(finding: Finding, where: Where) -> tuple[int, int] | None:
    return where(finding.path) if where is not None else None


def summary(findings: list[Finding]) -> dict[str, int]:
    return {severity: sum(f.severity == severity for f in findings) for severity in ("error", "warning", "note")}


def as_text(findings: list[Finding], source: str, where: Where = None) -> str:
    """One line per finding (`file:line:col: severity ID kind name: message`), then a summary line."""
    lines = []
    for f in findings:
        at = _where(f, where)
        place = f"{source}:{at[0]}:{at[1]}: " if at else (f"{source}: " if source else "")
        lines.append(f"{place}{f.severity} {f.rule} {f.kind} {f.name}: {f.message}")
    counts = summary(findings)
    lines.append(
        "no findings" if not findings
        else ", ".join(f"{n} {severity}{'s' if n != 1 else ''}" for severity, n in counts.items() if n)
    )
    return "\n".join(lines) + "\n"


def as_json(findings: list[Finding], source: str, where: Where = None) -> str:
    rows: list[dict[str, Any]] = []
    for f in findings:
        rule = RULES[_RULE_INDEX[f.rule]]
        row: dict[str, Any] = {
            "rule": f.rule, "name": rule.name, "severity": f.severity, "kind": f.kind, "object": f.name,
            "message": f.message, "fix": rule.fix, "path": list(f.path),
        }
        at = _where(f, where)
        if at:
            row.update(file=source, line=at[0], column=at[1])
        rows.append(row)
    return json.dumps({"findings": rows, "summary": summary(findings)}, indent=2) + "\n"


def as_sarif(findings: list[Finding], source: str, where: Where = None) -> str:
    """One run of `berth lint`: every rule in tool.driver.rules (with its why and fix as help), each
    finding a result with its rule, level, message and, for a file, the line and column."""
    rules = [
        {
            "id": rule.id,
            "name": rule.name,
            "shortDescription": {"text": rule.why},
            "fullDescription": {"text": f"{rule.why} Fix: {rule.fix}"},
            "help": {"text": f"{rule.why}\nFix: {rule.fix}", "markdown": f"{rule.why}\n\n**Fix:** {rule.fix}"},
            "defaultConfiguration": {"level": rule.severity},
            "properties": {"tags": ["security", "registry"]},
        }
        for rule in RULES
    ]
    results = []
    for f in findings:
        location: dict[str, Any] = {
            "logicalLocations": [{"name": f.name, "kind": f.kind, "fullyQualifiedName": f"{f.kind}/{f.name}"}]
        }
        at = _where(f, where)
        if at:
            location["physicalLocation"] = {
                "artifactLocation": {"uri": source},
                "region": {"startLine": at[0], "startColumn": at[1]},
            }
        results.append({
            "ruleId": f.rule,
            "ruleIndex": _RULE_INDEX[f.rule],
            "level": f.severity,
            "message": {"text": f"{f.kind} {f.name}: {f.message}"},
            "locations": [location],
            "partialFingerprints": {"berthObject/v1": f"{f.rule}/{f.kind}/{f.name}"},
        })
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "berth lint", "version": __version__, "rules": rules}},
        "results": results,
    }
    if where is not None:
        run["artifacts"] = [{"location": {"uri": source}}]
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"


FORMATS = {"text": as_text, "json": as_json, "sarif": as_sarif}
