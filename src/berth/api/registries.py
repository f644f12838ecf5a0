"""Swagger tag `registry`: registry endpoints (CRUD, ping, info) and the adapter types berth knows
(`/replication/adapters`, `/replication/adapterinfos`). System administrators only, as in Harbor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from berth.api import schemas
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, require_system
from berth.api.numbers import RowId
from berth.replication.adapters import HARBOR_TYPES, PingFailed, provider_infos
from berth.services.admin import delete_endpoint, ping_endpoint
from berth.services.registries import MASKED_SECRET, RegistryEndpoint, RegistryInput, normalized_url

router = APIRouter(tags=["registry"])
RESOURCE = "registry"


def registry_body(registry: RegistryEndpoint) -> schemas.Registry:
    credential = None
    if registry.credential_type or registry.access_key or registry.sealed_secret:
        credential = schemas.RegistryCredential(
            type=registry.credential_type, access_key=registry.access_key,
            access_secret=MASKED_SECRET if registry.sealed_secret else "",
        )
    return schemas.Registry(
        id=registry.id, url=registry.url, name=registry.name, credential=credential, type=registry.type,
        insecure=registry.insecure, ca_certificate=registry.ca_certificate, description=registry.description,
        status=registry.status, creation_time=harbor_time(registry.created_at),
        update_time=harbor_time(registry.updated_at),
    )


@router.get("/registries", operation_id="listRegistries", response_model=list[schemas.Registry])
async def list_registries(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None, name: str | None = None,
) -> list[schemas.Registry]:
    """`q` keys: name, description, type, url, status; `name` (older) is a fuzzy match on the name."""
    require_system(subject, RESOURCE, "list")
    found, total = await registry.registries.list(q, sort, paging.offset, paging.limit, name)
    paging.headers(request, response, total)
    return [registry_body(r) for r in found]


@router.post("/registries", operation_id="createRegistry", status_code=201)
async def create_registry(
    request: Request, registry: RegistryDep, subject: SubjectDep, body: Annotated[schemas.RegistryIn, Body()],
) -> Response:
    """Register an endpoint once it answers as a registry (400 with the reason otherwise); 409 when
    the name is taken."""
    require_system(subject, RESOURCE, "create")
    credential = body.credential or schemas.RegistryCredential()
    created = await registry.registries.create(RegistryInput(
        name=body.name or "", type=body.type or "", url=body.url or "", description=body.description or "",
        credential_type=credential.type or "", access_key=credential.access_key or "",
        access_secret=credential.access_secret or "", insecure=bool(body.insecure),
        ca_certificate=body.ca_certificate or "",
    ))
    location = f"{request.url.path.rstrip('/')}/{created.id}"
    return Response(status_code=201, headers={"Location": location})


@router.post("/registries/ping", operation_id="pingRegistry")
async def ping_registry(
    registry: RegistryDep, subject: SubjectDep, body: Annotated[schemas.RegistryPing, Body()],
) -> Response:
    """Check an endpoint: a stored one (`id`), with the body's fields over its own, or the body's alone;
    400 with the reason when it is unhealthy (unreachable, TLS error, wrong credentials, not a registry)."""
    require_system(subject, RESOURCE, "read")
    data = RegistryInput(name="ping", type="", url="")
    if body.id is not None:
        stored = await registry.registries.get(body.id)
        endpoint = registry.registries.endpoint(stored)
        data = RegistryInput(name=stored.name, type=stored.type, url=stored.url, credential_type=stored.credential_type,
                             access_key=stored.access_key, access_secret=endpoint.access_secret,
                             insecure=stored.insecure, ca_certificate=stored.ca_certificate)
    changes: dict[str, Any] = {key: value for key, value in {
        "type": body.type, "credential_type": body.credential_type, "access_key": body.access_key,
        "insecure": body.insecure, "ca_certificate": body.ca_certificate,
    }.items() if value is not None}
    if body.access_secret is not None and body.access_secret != MASKED_SECRET:
        changes["access_secret"] = body.access_secret
    if body.url is not None:
        changes["url"] = normalized_url(body.url)
    data = RegistryInput(**{**_fields(data), **changes})
    await ping_endpoint(data)
    return Response(status_code=200)


@router.get("/registries/{id}", operation_id="getRegistry", response_model=schemas.Registry)
async def get_registry(registry: RegistryDep, subject: SubjectDep, id: RowId) -> schemas.Registry:
    require_system(subject, RESOURCE, "read")
    return registry_body(await registry.registries.get(id))


@router.put("/registries/{id}", operation_id="updateRegistry")
async def update_registry(
    registry: RegistryDep, subject: SubjectDep, id: RowId, body: Annotated[schemas.RegistryUpdate, Body()],
) -> Response:
    """Change the fields the body names (the others stay); the endpoint is checked again (400 when
    unhealthy). An access secret left out, or sent back as "*****", stays."""
    require_system(subject, RESOURCE, "update")
    current = await registry.registries.get(id)
    given = {key: value for key, value in body.model_dump().items() if value is not None}
    data = RegistryInput(
        name=given.get("name", current.name), type=current.type, url=given.get("url", current.url),
        description=given.get("description", current.description),
        credential_type=given.get("credential_type", current.credential_type),
        access_key=given.get("access_key", current.access_key), access_secret=body.access_secret,
        insecure=given.get("insecure", current.insecure),
        ca_certificate=given.get("ca_certificate", current.ca_certificate),
    )
    await registry.registries.update(id, data)
    return Response(status_code=200)


@router.delete("/registries/{id}", operation_id="deleteRegistry")
async def delete_registry(registry: RegistryDep, subject: SubjectDep, id: RowId) -> Response:
    require_system(subject, RESOURCE, "delete")
    await delete_endpoint(registry, id)
    return Response(status_code=200)


@router.get("/registries/{id}/info", operation_id="getRegistryInfo", response_model=schemas.RegistryInfo)
async def get_registry_info(registry: RegistryDep, subject: SubjectDep, id: RowId) -> schemas.RegistryInfo:
    """The adapter's capabilities: the filters and triggers a replication policy with it may use."""
    require_system(subject, RESOURCE, "read")
    stored = await registry.registries.get(id)
    async with registry.registries.adapter(stored) as adapter:
        info = adapter.info()
        # the label filter lists the endpoint's labels, as Harbor's adapter does
        try:
            labels = await adapter.label_names() if any(f.type == "label" for f in info.filters) else []
        except PingFailed:  # unreachable now: the filter is still there, without its values
            labels = []
    return schemas.RegistryInfo(
        type=info.type, description=info.description, supported_triggers=list(info.triggers),
        supported_resource_filters=[schemas.FilterStyle(type=f.type, style=f.style,
                                                        values=labels if f.type == "label" else list(f.values))
                                    for f in info.filters],
        supported_copy_by_chunk=info.copy_by_chunk,
    )


@router.get("/replication/adapters", operation_id="listRegistryProviderTypes", response_model=list[str])
async def list_registry_provider_types(subject: SubjectDep) -> list[str]:
    """Harbor's adapter types; berth has adapters for docker-registry and harbor (adapterinfos says
    which), and refuses a registry of another type."""
    require_system(subject, "replication-adapter", "list")
    return list(HARBOR_TYPES)


@router.get("/replication/adapterinfos", operation_id="listRegistryProviderInfos",
            response_model=dict[str, schemas.RegistryProviderInfo])
async def list_registry_provider_infos(subject: SubjectDep) -> Any:
    """Per type, Harbor's endpoint pattern (where it is fixed) and berth's `supported` flag."""
    require_system(subject, "replication-adapter", "list")
    return JSONResponse(provider_infos())


def _fields(data: RegistryInput) -> dict[str, Any]:
    return {name: getattr(data, name) for name in RegistryInput.__dataclass_fields__}

