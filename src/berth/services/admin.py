"""System administration steps that the API and the web UI both take: running or scheduling the
system jobs (garbage collection, audit-log purge), checking a registry endpoint before it is stored,
and deleting an endpoint that nothing uses. Each front checks access first (auth/rbac.py) and then
calls these, so the rules (Harbor's validations, messages and codes) live in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.gc import GC, GcParametersInvalid, parse_parameters
from berth.services.audit import PURGE_AUDIT, purge_parameter_problem
from berth.services.errors import BadRequest, Conflict, PreconditionFailed
from berth.services.registries import RegistryInput, check_health, endpoint_of, input_problem
from berth.services.registry import Registry
from berth.services.scan_jobs import SCAN_ALL

#: the schedule types a system job takes: Manual runs it now, None removes its schedule
SCHEDULE_TYPES = ("Manual", "None", "Hourly", "Daily", "Weekly", "Custom")


async def kick_gc(registry: Registry, kind: str, cron: str | None, raw: Mapping[str, Any] | None) -> int:
    """Validate GC parameters as Harbor does (nothing stored on a refusal), then run now (Manual:
    the new execution's id), drop the schedule (None) or store it; an empty type changes nothing."""
    try:
        parameters = parse_parameters(raw).as_dict()
    except GcParametersInvalid as exc:
        raise BadRequest(str(exc)) from None
    if kind == "Manual":
        running, _ = await registry.executions.list_executions(GC, 0, q="status=Running", limit=1)
        if running:
            raise Conflict("a previous garbage collection job is still running")
        execution_id, _ = await registry.jobs.submit(GC, 0, GC, parameters, trigger="MANUAL", extra_attrs=parameters)
        return execution_id
    return await _schedule(registry, GC, kind, cron, parameters)


async def kick_purge(registry: Registry, kind: str, cron: str | None, raw: Mapping[str, Any] | None) -> int:
    """The same for the audit-log purge (its parameters: audit_retention_hour, include_event_types, dry_run)."""
    problem = purge_parameter_problem(raw)
    if problem:
        raise BadRequest(problem)
    parameters = dict(raw or {})
    if kind == "Manual":
        execution_id, _ = await registry.jobs.submit(PURGE_AUDIT, 0, PURGE_AUDIT, parameters, trigger="MANUAL",
                                                     extra_attrs=parameters)
        return execution_id
    return await _schedule(registry, PURGE_AUDIT, kind, cron, parameters)


async def _schedule(registry: Registry, vendor_type: str, kind: str, cron: str | None,
                    parameters: dict[str, Any]) -> int:
    if not kind:
        return 0
    if kind == "None":
        await registry.schedules.delete(vendor_type, 0)
        return 0
    await registry.schedules.set(vendor_type, 0, kind, cron, vendor_type, parameters)
    return 0


async def set_scan_all_schedule(registry: Registry, kind: str | None, cron: str | None) -> None:
    """Store the scan-all schedule (None: remove it)."""
    if not kind:
        raise BadRequest("the schedule and its type are required")
    if kind == "None":
        await registry.schedules.delete(SCAN_ALL, 0)
        return
    await registry.schedules.set(SCAN_ALL, 0, kind, cron, SCAN_ALL, {})


async def ping_endpoint(data: RegistryInput) -> None:
    """The "test connection" of a registry endpoint: BadRequest with the reason unless it is valid
    and answers as a healthy registry."""
    if not data.type or not data.url:
        raise BadRequest("type or url cannot be empty")
    problem = input_problem(data)
    if problem:
        raise BadRequest(problem)
    await check_health(endpoint_of(data))


async def delete_endpoint(registry: Registry, registry_id: int) -> None:
    """Delete a registry endpoint unless a replication rule or a proxy-cache project uses it (Harbor's 412)."""
    await registry.registries.get(registry_id)
    using = await registry.replication.using_registry(registry_id)
    if using:
        raise PreconditionFailed(
            f"the registry {registry_id} is referenced by replication policies: {', '.join(using)[:300]}")
    if await registry.projects.using_registry(registry_id):
        raise PreconditionFailed(f"the registry {registry_id} is referenced by proxy cache project, cannot delete it")
    await registry.registries.delete(registry_id)
