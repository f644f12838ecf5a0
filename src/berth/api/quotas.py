"""Swagger tags `quota`, `search` and `statistic`: project quotas, search, registry statistics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from berth.api import schemas
from berth.api.numbers import RowId
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, require_login, require_system
from berth.api.projects import project_body
from berth.auth.rbac import visible_project_ids
from berth.services.errors import BadRequest
from berth.services.projects import ProjectFilter
from berth.services.quotas import QuotaRecord

router = APIRouter(tags=["quota"])
search_router = APIRouter(tags=["search"])
statistic_router = APIRouter(tags=["statistic"])


def _quota(quota: QuotaRecord) -> schemas.Quota:
    return schemas.Quota(
        id=quota.id, ref={"id": quota.project_id, "name": quota.project_name, "owner_name": quota.owner_name},
        hard=schemas.ResourceList(storage=quota.hard), used=schemas.ResourceList(storage=quota.used),
        creation_time=harbor_time(quota.created_at), update_time=harbor_time(quota.updated_at),
    )


@router.get("/quotas", operation_id="listQuotas", response_model=list[schemas.Quota])
async def list_quotas(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    reference: str | None = None, reference_id: str | None = None, sort: str | None = None,
) -> list[schemas.Quota]:
    """Every project's quota (`reference=project&reference_id=<id>` for one), for system admins."""
    require_system(subject, "quota", "list")
    project_id = None
    if reference not in (None, "", "project"):
        raise BadRequest(f"unknown quota reference {reference[:50]!r}: project")
    if reference_id:
        if not reference_id.isdigit():
            raise BadRequest("reference_id must be a project id")
        project_id = int(reference_id)
    found, total = await registry.quotas.list(project_id=project_id, sort=sort, offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    return [_quota(q) for q in found]


@router.get("/quotas/{id}", operation_id="getQuota", response_model=schemas.Quota)
async def get_quota(registry: RegistryDep, subject: SubjectDep, id: RowId) -> schemas.Quota:  # noqa: A002 (Harbor's name)
    require_system(subject, "quota", "read")
    return _quota(await registry.quotas.get(id))


@router.put("/quotas/{id}", operation_id="updateQuota")
async def update_quota(
    registry: RegistryDep, subject: SubjectDep, id: RowId, hard: Annotated[schemas.QuotaUpdateReq, Body()],  # noqa: A002
) -> Response:
    """Set a project's storage limit: -1 (unlimited) or 1 byte to 1024 TiB."""
    require_system(subject, "quota", "update")
    if hard.hard is None:
        raise BadRequest("hard required in body")
    await registry.quotas.set_hard(id, hard.hard.storage)
    return Response(status_code=200)


@search_router.get("/search", operation_id="search", response_model=schemas.Search, response_model_exclude_none=True)
async def search(registry: RegistryDep, subject: SubjectDep, q: str = "") -> schemas.Search:
    """Projects and repositories whose names contain `q`, among those the caller may see."""
    visible = visible_project_ids(subject, await registry.projects.public_ids())
    filt = ProjectFilter(name=q or None)
    if visible is not None:
        filt.ids, filt.include_public = visible, True
    projects, _ = await registry.projects.list(filt, offset=0, limit=100)
    repositories, _ = await registry.repositories.list(project_ids=visible, q=f"name=~{q}" if q else None, limit=100)
    refs = {p.id: p for p in projects}
    missing = {r.project_id for r in repositories if r.project_id is not None and r.project_id not in refs}
    for project_id in missing:
        found = await registry.projects.find(str(project_id))
        if found is not None:
            refs[project_id] = found
    return schemas.Search(
        project=[project_body(p, subject) for p in projects],
        repository=[
            schemas.SearchRepository(
                project_id=r.project_id, project_name=refs[r.project_id].name if r.project_id in refs else "",
                project_public=refs[r.project_id].public if r.project_id in refs else False,
                repository_name=r.name, pull_count=r.pull_count, artifact_count=r.artifact_count,
            )
            for r in repositories
        ],
    )


@statistic_router.get("/statistics", operation_id="getStatistic", response_model=schemas.Statistic,
                      response_model_exclude_none=True)
async def statistics(registry: RegistryDep, subject: SubjectDep) -> schemas.Statistic:
    """Project and repository counts the caller may see; totals and storage for system admins."""
    require_login(subject)
    counts = await registry.projects.counts(visible_project_ids(subject, await registry.projects.public_ids()))
    body = schemas.Statistic(
        private_project_count=counts.private_projects, private_repo_count=counts.private_repositories,
        public_project_count=counts.public_projects, public_repo_count=counts.public_repositories,
    )
    if subject.sysadmin:
        body.total_project_count = counts.private_projects + counts.public_projects
        body.total_repo_count = counts.private_repositories + counts.public_repositories
        body.total_storage_consumption = await registry.projects.total_storage()
    return body
