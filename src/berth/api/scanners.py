"""Swagger tag `scanner` (registrations, the system default, ping, adapter metadata) and the project
operations on a project's scanner (`/projects/{p}/scanner`, its candidates)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from berth.api import schemas
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, project_for, require_system
from berth.services.errors import NotFound
from berth.services.scanners import Registration, RegistrationInput, metadata_or_400, ping_adapter

router = APIRouter(tags=["scanner"])
project_router = APIRouter(tags=["project"])
RESOURCE = "scanner"
_PROJECT = "/projects/{project_name_or_id}/scanner"


def registration_body(registration: Registration) -> schemas.ScannerRegistration:
    return schemas.ScannerRegistration(
        uuid=registration.uuid, name=registration.name, description=registration.description, url=registration.url,
        disabled=registration.disabled, is_default=registration.is_default, auth=registration.auth,
        access_credential="", skip_certVerify=registration.skip_cert_verify,
        use_internal_addr=registration.use_internal_addr, create_time=harbor_time(registration.created_at),
        update_time=harbor_time(registration.updated_at),
    )


def _input(body: schemas.ScannerRegistrationReq) -> RegistrationInput:
    return RegistrationInput(
        name=body.name, url=body.url, description=body.description or "", auth=body.auth or "",
        access_credential=body.access_credential, skip_cert_verify=bool(body.skip_certVerify),
        use_internal_addr=bool(body.use_internal_addr), disabled=bool(body.disabled),
    )


@router.get("/scanners", operation_id="listScanners", response_model=list[schemas.ScannerRegistration])
async def list_scanners(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None,
) -> list[schemas.ScannerRegistration]:
    """`q` keys: name, description, url (and ex_name, ex_url), is_default, disabled."""
    require_system(subject, RESOURCE, "list")
    found, total = await registry.scanners.list(q, sort, paging.offset, paging.limit)
    paging.headers(request, response, total)
    return [registration_body(r) for r in found]


@router.post("/scanners", operation_id="createScanner", status_code=201)
async def create_scanner(
    request: Request, registry: RegistryDep, subject: SubjectDep,
    registration: Annotated[schemas.ScannerRegistrationReq, Body()],
) -> Response:
    """Register an adapter (the first one becomes the system default); 409 when its name or URL is taken."""
    require_system(subject, RESOURCE, "create")
    created = await registry.scanners.create(_input(registration))
    location = f"{request.scope.get('root_path', '')}/scanners/{created.uuid}"
    return Response(status_code=201, headers={"Location": location})


@router.post("/scanners/ping", operation_id="pingScanner")
async def ping_scanner(
    registry: RegistryDep, subject: SubjectDep, settings: Annotated[schemas.ScannerRegistrationSettings, Body()],
) -> Response:
    """Ask the adapter at `url` for its metadata; 400 when it does not answer as an adapter should."""
    require_system(subject, RESOURCE, "create")
    await ping_adapter(settings.name, settings.url, settings.auth or "", settings.access_credential or "")
    return Response(status_code=200)


@router.get("/scanners/{registration_id}", operation_id="getScanner", response_model=schemas.ScannerRegistration)
async def get_scanner(registry: RegistryDep, subject: SubjectDep, registration_id: str) -> schemas.ScannerRegistration:
    require_system(subject, RESOURCE, "read")
    return registration_body(await registry.scanners.get(registration_id))


@router.put("/scanners/{registration_id}", operation_id="updateScanner")
async def update_scanner(
    registry: RegistryDep, subject: SubjectDep, registration_id: str,
    registration: Annotated[schemas.ScannerRegistrationReq, Body()],
) -> Response:
    """Replace a registration; an empty `access_credential` keeps the stored one while `auth` is unchanged."""
    require_system(subject, RESOURCE, "update")
    await registry.scanners.update(registration_id, _input(registration))
    return Response(status_code=200)


@router.delete("/scanners/{registration_id}", operation_id="deleteScanner",
               response_model=schemas.ScannerRegistration)
async def delete_scanner(
    registry: RegistryDep, subject: SubjectDep, registration_id: str,
) -> schemas.ScannerRegistration:
    """Delete a registration (its reports and the project choices naming it go with it)."""
    require_system(subject, RESOURCE, "delete")
    return registration_body(await registry.scanners.delete(registration_id))


@router.patch("/scanners/{registration_id}", operation_id="setScannerAsDefault")
async def set_scanner_as_default(
    registry: RegistryDep, subject: SubjectDep, registration_id: str, payload: Annotated[schemas.IsDefault, Body()],
) -> Response:
    """`{"is_default": true}` makes it the system default (the previous default stops being it)."""
    require_system(subject, RESOURCE, "update")
    if payload.is_default:
        await registry.scanners.set_default(registration_id)
    else:
        await registry.scanners.get(registration_id)  # 404 for an unknown id all the same
    return Response(status_code=200)


@router.get("/scanners/{registration_id}/metadata", operation_id="getScannerMetadata",
            response_model=schemas.ScannerAdapterMetadata)
async def get_scanner_metadata(registry: RegistryDep, subject: SubjectDep, registration_id: str) -> Any:
    require_system(subject, RESOURCE, "read")
    registration = await registry.scanners.get(registration_id)
    return await metadata_or_400(registry.scanners.metadata(registration))


# --- a project's scanner -----------------------------------------------------------------------------


@project_router.get(_PROJECT, operation_id="getScannerOfProject", response_model=schemas.ScannerRegistration)
async def get_scanner_of_project(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
) -> schemas.ScannerRegistration:
    """The scanner that scans the project: its choice, else the system default (404 when neither)."""
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, "read")
    registration = await registry.scanners.of_project(project.id)
    if registration is None:
        raise NotFound(f"no scanner is registered for project {project.name}")
    return registration_body(registration)


@project_router.put(_PROJECT, operation_id="setScannerOfProject")
async def set_scanner_of_project(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
    payload: Annotated[schemas.ProjectScanner, Body()],
) -> Response:
    project = await project_for(registry, subject, project_name_or_id, request, RESOURCE, "create")
    await registry.scanners.set_for_project(project.id, project.name, payload.uuid)
    return Response(status_code=200)


@project_router.get(_PROJECT + "/candidates", operation_id="listScannerCandidatesOfProject",
                    response_model=list[schemas.ScannerRegistration])
async def list_scanner_candidates_of_project(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name_or_id: str, q: str | None = None, sort: str | None = None,
) -> list[schemas.ScannerRegistration]:
    """The registrations a project may choose from (every one), with the list's `q` and `sort`."""
    await project_for(registry, subject, project_name_or_id, request, RESOURCE, "create")
    found, total = await registry.scanners.list(q, sort, paging.offset, paging.limit)
    paging.headers(request, response, total)
    return [registration_body(r) for r in found]
