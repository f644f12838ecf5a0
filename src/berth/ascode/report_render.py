"""The compliance report as text: Markdown, self-contained HTML (inline CSS, charts as inline SVG,
every value escaped), JSON (the numbers) and CSV (one row per project). Pure: data in, text out."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from html import escape
from typing import Any

from berth.ascode.report import ALLOWLIST_WARNING_DAYS, FINDING_AGE_BUCKETS, ROBOT_AGE_BUCKETS, ROBOT_EXPIRY_STATES

FORMATS = ("md", "html", "json", "csv")
#: the CSV's columns: the JSON report's `projects` rows, in this order
CSV_COLUMNS = ("project", "artifacts", "signed", "signature_coverage", "verified", "images", "scanned",
               "scan_coverage", "policy", "passed", "pass_rate", "open_critical", "open_high")
_PROJECT_HEADINGS = ("Project", "Artifacts", "Signed", "Signature coverage", "Verified", "Images", "Scanned",
                     "Scan coverage", "CVE policy", "Passed", "Pass rate", "Open critical", "Open high")
_NOT_AVAILABLE = "n/a"


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, default=_json_value) + "\n"
    if fmt == "csv":
        return _csv(report)
    sections = _sections(report)
    return _markdown(report, sections) if fmt == "md" else _html(report, sections)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    raise TypeError(f"{type(value).__name__} is not JSON")


def _csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report["projects"]:
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return out.getvalue()


# --- the sections both text formats show ----------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _percent(value: float | None) -> str:
    return _NOT_AVAILABLE if value is None else f"{value * 100:.1f}%"


def _cell(value: Any) -> str:
    if value is None:
        return _NOT_AVAILABLE
    if isinstance(value, datetime):
        return _when(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def _of(part: int | None, whole: int, share: float | None) -> str:
    return _NOT_AVAILABLE if part is None else f"{part} of {whole} ({_percent(share)})"


class _Section:
    """A heading, lines of text, and tables of (headings, rows)."""

    def __init__(self, title: str, lines: list[str] | None = None) -> None:
        self.title, self.lines = title, lines or []
        self.tables: list[tuple[tuple[str, ...], list[list[str]]]] = []
        #: bar groups: (label, [(series, value, value as shown)]); widths relative to `chart_scale`
        #: (None: to the largest value)
        self.chart: list[tuple[str, list[tuple[str, float, str]]]] | None = None
        self.chart_scale: float | None = None

    def table(self, headings: tuple[str, ...], rows: list[list[Any]]) -> _Section:
        self.tables.append((headings, [[_cell(v) for v in row] for row in rows]))
        return self


def _sections(report: dict[str, Any]) -> list[_Section]:
    totals, unavailable = report["totals"], report["unavailable"]
    out = []
    summary = _Section("Summary").table(("Measure", "Value"), [
        ["Signature coverage", _of(totals["signed"], totals["artifacts"], totals["signature_coverage"])],
        ["Verified signatures", totals["verified"]],
        ["Scan coverage (images)", _of(totals["scanned"], totals["images"], totals["scan_coverage"])],
        ["CVE policy pass rate", _of(totals["policy_passed"], totals["policy_scanned"], totals["pass_rate"])
         + f" in {totals['policy_projects']} project(s) with prevent_vul"],
        ["Open critical findings", totals["open_critical"]],
        ["Open high findings", totals["open_high"]],
    ])
    out.append(summary)

    projects = _Section("Projects").table(_PROJECT_HEADINGS, [
        [r["project"], r["artifacts"], r["signed"], _percent(r["signature_coverage"]), r["verified"], r["images"],
         r["scanned"], _percent(r["scan_coverage"]), r["policy"] or "none", r["passed"], _percent(r["pass_rate"]),
         r["open_critical"], r["open_high"]] for r in report["projects"]])
    projects.chart = [(r["project"], [(name, (r[key] or 0) * 100, _percent(r[key])) for name, key in
                                      (("signed", "signature_coverage"), ("scanned", "scan_coverage"))])
                      for r in report["projects"] if r["artifacts"]]
    projects.chart_scale = 100.0
    out.append(projects)

    by_age = report["open_findings_by_age"]
    labels = tuple(label for label, _ in FINDING_AGE_BUCKETS)
    ages = _Section("Open critical and high findings by age", [
        "Age: days since the finding was first seen in a scanned artifact of its repository."])
    ages.table(("Severity", *labels), [[s, *(by_age[s][label] for label in labels)] for s in by_age])
    if report["open_findings"]:
        ages.table(("Severity", "Finding", "Package", "Repository", "First seen", "Age (days)"), [
            [f["severity"], f["id"], f["package"], f["repository"], f["first_seen"], f["age_days"]]
            for f in report["open_findings"]])
    else:
        ages.lines.append("No critical or high finding is open.")
    ages.chart = [(s, [(label, by_age[s][label], str(by_age[s][label])) for label in labels]) for s in by_age]
    out.append(ages)

    mttr = _Section("Mean time to remediate", [
        "Findings remediated in the period: a finding is remediated when a later scanned artifact of the "
        "same repository no longer has it, at that artifact's push time."])
    mttr.table(("Severity", "Remediated", "Mean time"),
               [[s, v["remediated"], _duration(v["mean_seconds"])] for s, v in report["mttr"].items()])
    mttr.chart = [(s, [("mean", v["mean_seconds"], _duration(v["mean_seconds"]) or "")])
                  for s, v in report["mttr"].items() if v["mean_seconds"] is not None]
    out.append(mttr)

    allowlists = _Section(f"CVE allowlist entries expiring within {ALLOWLIST_WARNING_DAYS} days")
    if report["allowlists_expiring"]:
        allowlists.table(("Allowlist", "CVE", "Expires", "Days left"), [
            [a["scope"], a["cve_id"], a["expires_at"], a["days_left"]] for a in report["allowlists_expiring"]])
    else:
        allowlists.lines.append("None.")
    if "system_allowlist" in unavailable:
        allowlists.lines.append(f"System allowlist not available: {unavailable['system_allowlist']}.")
    out.append(allowlists)

    robots = _Section("Robot credentials")
    if (r := _available(robots, report, "robots")) is not None:
        robots.table(("Age", *(label for label, _ in ROBOT_AGE_BUCKETS)),
                     [["robots", *(r["by_age"][label] for label, _ in ROBOT_AGE_BUCKETS)]])
        robots.table(("Expiry", *ROBOT_EXPIRY_STATES), [["robots", *(r["by_expiry"][s] for s in ROBOT_EXPIRY_STATES)]])
        robots.table(("Robot", "Level", "Age (days)", "Expires", "Expiry", "Disabled"), [
            [x["name"], x["level"], x["age_days"], x["expires_at"] or "never", x["expiry"], x["disabled"]]
            for x in r["robots"]])
    out.append(robots)

    pulls = _Section("Unsigned or critical-vulnerability artifacts pulled in the period")
    if (p := _available(pulls, report, "pulls")) is not None:
        pulls.lines.append(
            f"{p['pulls']} pulls in the audit log: {p['artifact_pulls']} of artifacts, {p['accessory_pulls']} of "
            f"signatures and other accessories, {p['unresolved_pulls']} of artifacts no longer there; "
            f"{p['unsigned_pulls']} of unsigned artifacts, {p['critical_pulls']} of artifacts with a critical "
            "finding.")
        pulls.table(("Repository", "Digest", "Tags", "Pulls", "Signed", "Critical findings", "Last pull"), [
            [a["repository"], a["digest"][:19], ", ".join(a["tags"]), a["pulls"], a["signed"], a["critical"],
             a["last_pull"]] for a in p["artifacts"]])
    out.append(pulls)

    if unavailable:
        out.append(_Section("Not available", [f"{name}: {why}" for name, why in sorted(unavailable.items())]))
    return out


def _available(section: _Section, report: dict[str, Any], key: str) -> Any:
    """The report's `key` section, or None after saying in `section` why it is not available."""
    if report[key] is None:
        section.lines.append(f"Not available: {report['unavailable'].get(key, '')}.")
    return report[key]


def _heading(report: dict[str, Any]) -> str:
    period = report["period"]
    days = period["days"]
    return (f"Registry {report['registry']}, generated {_when(report['generated_at'])}; period: the last "
            f"{days:g} day{'' if days == 1 else 's'} (since {_when(period['since'])}).")


# --- Markdown -------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(report: dict[str, Any], sections: list[_Section]) -> str:
    lines = ["# Compliance report", "", _md_cell(_heading(report))]
    for section in sections:
        lines += ["", f"## {section.title}"]
        for text in section.lines:
            lines += ["", _md_cell(text)]
        for headings, rows in section.tables:
            lines += ["", "| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --- HTML -----------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24;max-width:72rem}
table{border-collapse:collapse;margin:.75rem 0}th,td{border:1px solid #c9d1d9;padding:.25rem .6rem;text-align:left}
th{background:#f3f5f7}td{font-variant-numeric:tabular-nums}svg{display:block;margin:.5rem 0}
.s0{fill:#2f6fb0}.s1{fill:#e08a1e}.s2{fill:#7b8a97}.s3{fill:#b03030}text{font-size:12px;fill:#1b1f24}
"""
_ROW, _BAR, _LABEL_WIDTH, _PLOT_WIDTH, _VALUE_WIDTH = 18, 14, 180, 420, 160


def _bar_chart(groups: list[tuple[str, list[tuple[str, float, str]]]], scale: float | None) -> str:
    """Horizontal bars: one group per label, one bar per series; widths relative to `scale` (or to
    the largest value)."""
    if not groups:
        return ""
    largest = scale or max((v for _, bars in groups for _, v, _ in bars), default=0) or 1.0
    series = list(dict.fromkeys(name for _, bars in groups for name, _, _ in bars))
    height = _ROW * (1 + sum(len(bars) for _, bars in groups)) + 8 * len(groups)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_LABEL_WIDTH + _PLOT_WIDTH + _VALUE_WIDTH}" height="{height}" '
             'role="img">']
    y = 0
    for label, bars in groups:
        short = label if len(label) <= 28 else label[:27] + "…"
        parts.append(f'<text x="0" y="{y + _BAR}">{escape(short)}<title>{escape(label)}</title></text>')
        for name, value, shown in bars:
            width = round(_PLOT_WIDTH * max(0.0, value) / largest, 1)
            parts.append(f'<rect class="s{series.index(name) % 4}" x="{_LABEL_WIDTH}" y="{y + 2}" width="{width}" '
                         f'height="{_BAR}"><title>{escape(name)}: {escape(shown)}</title></rect>'
                         f'<text x="{_LABEL_WIDTH + width + 4}" y="{y + _BAR}">{escape(name)} {escape(shown)}</text>')
            y += _ROW
        y += 8
    parts.append("</svg>")
    return "".join(parts)


def _html(report: dict[str, Any], sections: list[_Section]) -> str:
    body = [f"<h1>Compliance report</h1><p>{escape(_heading(report))}</p>"]
    for section in sections:
        body.append(f"<h2>{escape(section.title)}</h2>")
        body.extend(f"<p>{escape(text)}</p>" for text in section.lines)
        if section.chart is not None:
            body.append(_bar_chart(section.chart, section.chart_scale))
        for headings, rows in section.tables:
            head = "".join(f"<th>{escape(h)}</th>" for h in headings)
            cells = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Compliance report</title>'
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n")
