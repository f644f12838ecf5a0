"""The optional vulnerability-database updater for connected installs: the configured OSV exports
imported again on a cron schedule, as `berth vulndb import` does by hand (the air-gapped path)."""

from __future__ import annotations

from collections.abc import Sequence

from berth.jobs.kinds import JobContext, JobFailed, JobKind
from berth.scan.osv_sources import SourceError
from berth.scan.vulndb import ImportConflict, VulnDB

UPDATE = "VULNDB_UPDATE"
#: a download that fails is tried again with the job system's backoff
ATTEMPTS = 3


def update_kind(sources: Sequence[str]) -> JobKind:
    """The job that imports `sources` into the database of the registry it runs for."""

    async def run(ctx: JobContext) -> str:
        if not sources:
            return "no vulndb_update_sources configured: nothing to import"
        try:
            report = await VulnDB(ctx.services.db).import_sources(list(sources))
        except (SourceError, ImportConflict, OSError) as exc:
            ctx.log(f"import failed, the previous records stay: {exc}")
            raise JobFailed(str(exc)) from exc
        for origin, reason in report.invalid[:20]:
            ctx.log(f"invalid: {origin}: {reason}")
        return f"loaded {report.loaded}, invalid {len(report.invalid)}, withdrawn {report.withdrawn}"

    return JobKind(UPDATE, run, max_attempts=ATTEMPTS)
