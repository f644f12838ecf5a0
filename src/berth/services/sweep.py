"""Harbor's daily execution sweep: old executions of background work (webhook deliveries, purges ...)
are deleted beyond the newest few per vendor, with their tasks and logs, so job history stays bounded."""

from __future__ import annotations

from berth.jobs.kinds import JobContext, JobKind

SWEEP = "EXECUTION_SWEEP"
#: runs daily at midnight (UTC), as Harbor's
SWEEP_CRON = "0 0 0 * * *"
#: executions kept per vendor (a webhook policy, the audit purge ...): Harbor's defaults
RETAIN = {"WEBHOOK": 50, "SLACK": 50, "PURGE_AUDIT_LOG": 10, SWEEP: 10, "SCAN_DATA_EXPORT": 50, "VULNDB_UPDATE": 10,
          "SYSTEM_ARTIFACT_CLEANUP": 50, "CVE_ALLOWLIST_EXPIRY": 10,
          "GARBAGE_COLLECTION": 50, "RETENTION": 50}


async def run_sweep(ctx: JobContext) -> str:
    counts = {**RETAIN, **{k: int(v) for k, v in ctx.parameters.get("retain", {}).items()}}
    total = 0
    for vendor_type, keep in sorted(counts.items()):
        deleted = await ctx.services.executions.sweep(vendor_type, max(keep, 1))
        ctx.log(f"{vendor_type}: kept the newest {keep} per vendor, deleted {deleted} older executions")
        total += deleted
    return f"deleted {total} executions"


SWEEP_KIND = JobKind(SWEEP, run_sweep)
