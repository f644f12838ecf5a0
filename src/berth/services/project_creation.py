"""Creating a project as Harbor's createProject decides it, for every front (the API and the web UI):
who may create one, which metadata a proxy-cache project keeps, the storage limit it gets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from berth.services.errors import BadRequest, Forbidden, NotFound
from berth.services.projects import PROXY_KEYS, ProjectRecord
from berth.services.proxy_cache import PROXY_REGISTRY_TYPES, proxy_retention_policy

if TYPE_CHECKING:
    from berth.services.registry import Registry


async def create_project(
    registry: Registry, name: str, *, owner_id: int, sysadmin: bool, unrestricted: bool,
    metadata: dict[str, Any], storage_limit: int | None = None, allowlist: list[str] | None = None,
    registry_id: int | None = None, allowlist_expires_at: int | None = None,
) -> ProjectRecord:
    """Create project `name` owned by `owner_id`. `sysadmin`: the creator is a system administrator
    (only they make proxy-cache projects or choose the storage limit); `unrestricted`: the creator may
    create projects when the configuration says "adminonly" (administrators, system robots)."""
    config = await registry.configurations.all()
    if config["project_creation_restriction"] == "adminonly" and not unrestricted:
        raise Forbidden("Only system admin can create project")
    if registry_id is not None and not sysadmin:
        raise Forbidden("Only system admin can create proxy cache project")
    if not name:
        raise BadRequest("project_name is required")
    metadata = dict(metadata)
    if registry_id is not None:
        await _check_proxy_registry(registry, registry_id)
        metadata.pop("enable_content_trust", None)  # Harbor drops it for proxy projects (goharbor/harbor#12940)
    else:
        for key in PROXY_KEYS:
            metadata.pop(key, None)  # only proxy-cache projects use these
    limit = None
    if config["quota_per_project_enable"]:
        limit = storage_limit
        if limit is None or limit == 0 or not sysadmin:
            limit = config["storage_per_project"]
    created = await registry.projects.create(
        name, owner_id, metadata=metadata, storage_limit=limit, allowlist=allowlist, registry_id=registry_id,
        allowlist_expires_at=allowlist_expires_at,
    )
    if registry_id is not None:
        # Harbor's default for cached content: keep what was pulled in the last 7 days, checked daily
        await registry.retention.create(proxy_retention_policy(created.id), created.name)
    return created


async def _check_proxy_registry(registry: Registry, registry_id: int) -> None:
    """Harbor's validateProjectReq: the upstream must exist and be of a type that may be proxied."""
    if registry_id <= 0:
        raise BadRequest(f"{registry_id} is invalid value of registry_id, it should be geater than 0")
    try:
        upstream = await registry.registries.get(registry_id)
    except NotFound:
        raise BadRequest(f"registry {registry_id} not found") from None
    if upstream.type not in PROXY_REGISTRY_TYPES:
        raise BadRequest(f"unsupported registry type {upstream.type}")
