"""The security overview's numbers (services/securityhub.py) on a real SQLite schema: the trend is the
history of the daily scan snapshots that successful reports write (each day counts every stored artifact
by its last successful scan up to that day), not a series made up from today's report; and the
pure pieces the UI draws it with."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from berth.scan.model import Severity
from berth.services import scans
from berth.services.scans import REPORT_V11, ScanReportService
from berth.services.securityhub import TREND_DAYS, SecurityHubService, TrendPoint
from berth.ui.security import severity_bar, trend_chart

from tests.unit.test_pull_policy_inputs import DIGEST, REPORT, world  # noqa: F401  (world: the fixture)


async def test_the_trend_follows_the_snapshots_day_by_day(world, monkeypatch):  # noqa: F811
    counted, project, scanner = world
    report = json.loads(REPORT.read_text())
    findings = scans.findings_of(report)
    reports = ScanReportService(counted.db)

    async def scan_on(day: date, body: dict) -> None:  # type: ignore[type-arg]
        monkeypatch.setattr(scans, "utcnow", lambda: datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
        await reports.record_report(digest=DIGEST, registration_uuid=scanner, mime_type=REPORT_V11,
                                    status="Success", report=body)

    today = date(2027, 3, 31)
    await scan_on(date(2027, 1, 1), report)  # before the window: carried into it
    await scan_on(date(2027, 3, 20), {"vulnerabilities": []})  # fixed
    await scan_on(date(2027, 3, 25), {"vulnerabilities": []})
    await scan_on(date(2027, 3, 25), report)  # the day's last scan is its snapshot

    overview = await SecurityHubService(counted.db).overview(scanner, project, today=today)
    by_day = {point.day: point for point in overview.trend}
    assert len(overview.trend) == TREND_DAYS and overview.trend[-1].day == "2027-03-31"
    critical = sum(1 for f in findings if f.severity == Severity.CRITICAL)
    assert by_day["2027-03-02"].total == len(findings) and by_day["2027-03-02"].critical == critical
    assert by_day["2027-03-19"].total == len(findings)
    assert by_day["2027-03-20"].total == 0 and by_day["2027-03-24"].total == 0 and by_day["2027-03-24"].scanned == 1
    assert by_day["2027-03-25"].total == len(findings) and by_day["2027-03-31"].total == len(findings)

    assert overview.artifacts == 1 and overview.scanned == 1 and overview.signed == 0 and overview.unsigned == 1
    assert sum(overview.by_severity.values()) == 1
    assert {cve for cve, _, _ in overview.common_cves} <= {f.cve_id for f in findings}
    # another scanner's snapshots are not this one's history
    empty = await SecurityHubService(counted.db).overview(None, project, today=today)
    assert all(point.total == 0 for point in empty.trend) and empty.scanned == 0


def test_a_severity_bar_gives_each_severity_its_share_worst_first():
    bar = severity_bar({"Low": 1, "Critical": 3}, width=100)
    assert [(s.severity, s.count, s.x, s.width) for s in bar] == [("Critical", 3, 0.0, 75.0), ("Low", 1, 75.0, 25.0)]
    assert severity_bar({}) == []


def test_the_trend_chart_scales_to_the_largest_total():
    chart = trend_chart([TrendPoint("2027-03-01", total=4, critical=1), TrendPoint("2027-03-02", total=2)])
    total = next(coords for name, _, coords in chart.lines if name == "Total")
    (x0, y0, _, v0), (x1, y1, _, v1) = total
    assert (v0, v1) == (4, 2) and x0 < x1 and y0 == chart.top and y0 < y1
