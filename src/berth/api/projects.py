"""Swagger tags `project` and `projectMetadata`: projects, their metadata, deletability and summary."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from berth.api import schemas
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, project_for, require_login
from berth.auth.rbac import Subject, is_allowed_system, member_project_ids
from berth.security.roles import Permission, Role
from berth.services.errors import BadRequest, Forbidden, NotFound
from berth.services.project_creation import create_project as new_project
from berth.services.projects import ProjectFilter, ProjectRecord, normalize_allowlist, settable_metadata
from berth.services.users import ADMIN_ID

router = APIRouter(tags=["project"])
metadata_router = APIRouter(tags=["projectMetadata"])

# a user holding several roles is shown the strongest, in Harbor's order
_ROLE_STRENGTH = (Role.PROJECT_ADMIN, Role.MAINTAINER, Role.DEVELOPER, Role.GUEST, Role.LIMITED_GUEST)


def _roles(subject: Subject, project_id: int) -> list[int]:
    return sorted(int(role) for role in subject.roles.get(project_id, ()))


def project_body(project: ProjectRecord, subject: Subject) -> schemas.Project:
    roles = _roles(subject, project.id)
    strongest = next((int(r) for r in _ROLE_STRENGTH if int(r) in roles), 0)
    allowlist = project.allowlist
    return schemas.Project(
        project_id=project.id, owner_id=project.owner_id, name=project.name, registry_id=project.registry_id or None,
        creation_time=harbor_time(project.created_at), update_time=harbor_time(project.updated_at),
        owner_name=project.owner_name, togglable=True, current_user_role_id=strongest,
        current_user_role_ids=roles or None, repo_count=project.repo_count,
        metadata=schemas.ProjectMetadata(**project.metadata),
        cve_allowlist=schemas.CVEAllowlist(
            id=allowlist.id, project_id=project.id, expires_at=allowlist.expires_at,
            items=[schemas.CVEAllowlistItem(cve_id=c) for c in allowlist.items],
            creation_time=harbor_time(allowlist.created_at), update_time=harbor_time(allowlist.updated_at),
        ) if allowlist else None,
    )


@router.get("/projects", operation_id="listProjects", response_model=list[schemas.Project], response_model_exclude_none=True)
async def list_projects(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    name: str | None = None, public: bool | None = None, owner: str | None = None, with_detail: bool = True,
    sort: str | None = None, q: str | None = None,
) -> list[schemas.Project]:
    """Projects the caller may see: public ones, and those it is a member of (admins: all)."""
    filt = ProjectFilter(name=name, public=public, owner=owner)
    members = member_project_ids(subject)
    if members is not None:
        filt.ids, filt.include_public = members, True
    found, total = await registry.projects.list(filt, offset=paging.offset, limit=paging.limit, q=q, sort=sort)
    paging.headers(request, response, total)
    return [project_body(project, subject) for project in found]


@router.head("/projects", operation_id="headProject")
async def head_project(registry: RegistryDep, subject: SubjectDep, project_name: Annotated[str, Query()]) -> Response:
    """200 when a project of that name exists, else 404 (for name checks before creation)."""
    require_login(subject)
    if await registry.projects.ref(project_name) is None:
        raise NotFound(f"project {project_name} not found")
    return Response(status_code=200)


@router.post("/projects", operation_id="createProject", status_code=201)
async def create_project(
    request: Request, registry: RegistryDep, subject: SubjectDep, project: Annotated[schemas.ProjectReq, Body()],
) -> Response:
    require_login(subject)
    if subject.kind == "robot" and not is_allowed_system(subject, Permission("project", "create")):
        raise Forbidden("Only system level robot can create project")
    metadata: dict[str, Any] = project.metadata.model_dump(exclude_none=True) if project.metadata else {}
    if project.public is not None and not metadata.get("public"):
        metadata["public"] = "true" if project.public else "false"
    allowlist = normalize_allowlist(
        [item.model_dump() for item in (project.cve_allowlist.items or [])] if project.cve_allowlist else None
    )
    created = await new_project(
        registry, project.project_name, owner_id=subject.user_id if subject.kind == "user" else ADMIN_ID,
        sysadmin=subject.sysadmin, unrestricted=subject.sysadmin or subject.kind == "robot", metadata=metadata,
        storage_limit=project.storage_limit, allowlist=allowlist, registry_id=project.registry_id,
        allowlist_expires_at=project.cve_allowlist.expires_at if project.cve_allowlist else None,
    )
    return Response(status_code=201, headers={"Location": f"{request.scope.get('root_path', '')}/projects/{created.id}"})


@router.get("/projects/{project_name_or_id}", operation_id="getProject", response_model=schemas.Project, response_model_exclude_none=True)
async def get_project(request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str) -> schemas.Project:
    project = await project_for(registry, subject, project_name_or_id, request)
    return project_body(project, subject)


@router.put("/projects/{project_name_or_id}", operation_id="updateProject")
async def update_project(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
    project: Annotated[schemas.ProjectReq, Body()],
) -> Response:
    """Metadata and the CVE allowlist; the name, owner and storage limit do not change here."""
    target = await project_for(registry, subject, project_name_or_id, request, "project", "update")
    metadata: dict[str, Any] = project.metadata.model_dump(exclude_none=True) if project.metadata else {}
    if project.public is not None and not metadata.get("public"):
        metadata["public"] = "true" if project.public else "false"
    metadata = settable_metadata(metadata, proxy_cache=bool(target.registry_id))
    allowlist = None
    expires: int | None | bool = False
    if project.cve_allowlist is not None:
        if project.cve_allowlist.project_id not in (None, 0, target.id):
            raise BadRequest(
                f"project_id in cve_allowlist must be {target.id} but it's {project.cve_allowlist.project_id}"
            )
        allowlist = normalize_allowlist([item.model_dump() for item in project.cve_allowlist.items or []])
        expires = project.cve_allowlist.expires_at
    await registry.projects.update(target.id, metadata=metadata, allowlist=allowlist, allowlist_expires_at=expires)
    return Response(status_code=200)


@router.delete("/projects/{project_name_or_id}", operation_id="deleteProject")
async def delete_project(request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str) -> Response:
    """Refused (412) while the project holds repositories; its robots go with it."""
    project = await project_for(registry, subject, project_name_or_id, request, "project", "delete")
    await registry.projects.delete(project)
    registry.robots.forget()  # its robots are gone: no remembered login of theirs may survive
    return Response(status_code=200)


@router.get("/projects/{project_name_or_id}/_deletable", operation_id="getProjectDeletable", response_model=schemas.ProjectDeletable)
async def project_deletable(request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str) -> schemas.ProjectDeletable:
    project = await project_for(registry, subject, project_name_or_id, request, "project", "delete")
    deletable, message = await registry.projects.deletable(project)
    return schemas.ProjectDeletable(deletable=deletable, message=message)


@router.get("/projects/{project_name_or_id}/summary", operation_id="getProjectSummary", response_model=schemas.ProjectSummary, response_model_exclude_none=True)
async def project_summary(request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str) -> schemas.ProjectSummary:
    project = await project_for(registry, subject, project_name_or_id, request)
    counts = await registry.projects.role_counts(project.id)
    hard, used = await registry.quotas.usage(project.id)
    return schemas.ProjectSummary(
        repo_count=project.repo_count,
        project_admin_count=counts.get(Role.PROJECT_ADMIN, 0),
        maintainer_count=counts.get(Role.MAINTAINER, 0),
        developer_count=counts.get(Role.DEVELOPER, 0),
        guest_count=counts.get(Role.GUEST, 0),
        limited_guest_count=counts.get(Role.LIMITED_GUEST, 0),
        quota=schemas.ProjectSummaryQuota(hard=schemas.ResourceList(storage=hard), used=schemas.ResourceList(storage=used)),
    )


# --- metadata ----------------------------------------------------------------------------------


@metadata_router.get("/projects/{project_name_or_id}/metadatas", include_in_schema=False)
@metadata_router.get("/projects/{project_name_or_id}/metadatas/", operation_id="listProjectMetadatas")
async def list_metadata(request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str) -> dict[str, str]:
    project = await project_for(registry, subject, project_name_or_id, request, "metadata", "read")
    return project.metadata


@metadata_router.post("/projects/{project_name_or_id}/metadatas", include_in_schema=False)
@metadata_router.post("/projects/{project_name_or_id}/metadatas/", operation_id="addProjectMetadatas")
async def add_metadata(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str,
    metadata: Annotated[dict[str, Any], Body()],
) -> Response:
    project = await project_for(registry, subject, project_name_or_id, request, "metadata", "create")
    await registry.projects.update(project.id, metadata=_no_retention(metadata))
    return Response(status_code=200)


@metadata_router.get("/projects/{project_name_or_id}/metadatas/{meta_name}", operation_id="getProjectMetadata")
async def get_metadata(request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str, meta_name: str) -> dict[str, str]:
    project = await project_for(registry, subject, project_name_or_id, request, "metadata", "read")
    if meta_name not in project.metadata:
        raise NotFound(f"metadata {meta_name} not found in project {project.name}")
    return {meta_name: project.metadata[meta_name]}


@metadata_router.put("/projects/{project_name_or_id}/metadatas/{meta_name}", operation_id="updateProjectMetadata")
async def update_metadata(
    request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str, meta_name: str,
    metadata: Annotated[dict[str, Any], Body()],
) -> Response:
    project = await project_for(registry, subject, project_name_or_id, request, "metadata", "update")
    if set(metadata) != {meta_name}:
        raise BadRequest(f"the body must hold exactly the key {meta_name}")
    if meta_name not in project.metadata:
        raise NotFound(f"metadata {meta_name} not found in project {project.name}")
    await registry.projects.update(project.id, metadata=_no_retention(metadata))
    return Response(status_code=200)


@metadata_router.delete("/projects/{project_name_or_id}/metadatas/{meta_name}", operation_id="deleteProjectMetadata")
async def delete_metadata(request: Request, registry: RegistryDep, subject: SubjectDep, project_name_or_id: str, meta_name: str) -> Response:
    project = await project_for(registry, subject, project_name_or_id, request, "metadata", "delete")
    await registry.projects.delete_metadata(project.id, meta_name)
    return Response(status_code=200)


def _no_retention(metadata: dict[str, Any]) -> dict[str, Any]:
    if "retention_id" in metadata:
        raise BadRequest("retention_id is managed by the retention API")
    return metadata
