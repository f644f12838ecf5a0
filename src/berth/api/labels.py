"""Swagger tag `label`: global and project labels (attaching them is in api/artifacts.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from berth.api import schemas
from berth.api.numbers import Int32, RowId
from berth.api.deps import PagingDep, RegistryDep, SubjectDep, harbor_time, require_project, require_system, visible_project
from berth.auth.rbac import Subject
from berth.services.errors import BadRequest
from berth.services.labels import GLOBAL, PROJECT, LabelRecord
from berth.services.registry import Registry

router = APIRouter(tags=["label"])


def label_body(label: LabelRecord) -> schemas.Label:
    return schemas.Label(id=label.id, name=label.name, description=label.description, color=label.color,
                         scope=label.scope, project_id=label.project_id,
                         creation_time=harbor_time(label.created_at), update_time=harbor_time(label.updated_at))


async def _require(registry: Registry, subject: Subject, scope: str, project_id: int | None, action: str) -> None:
    """Global labels are the system's (admins); project labels the project's (label permissions)."""
    if scope == GLOBAL:
        require_system(subject, "label", action)
        return
    if scope != PROJECT:
        raise BadRequest(f"invalid scope: {scope}")
    if not project_id:
        raise BadRequest("must with project ID when to query project labels")
    project = await visible_project(registry, subject, str(project_id))
    require_project(subject, project, "label", action)


@router.get("/labels", operation_id="ListLabels", response_model=list[schemas.Label])
async def list_labels(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    scope: str = "", project_id: Int32 | None = None, name: str | None = None, q: str | None = None,
    sort: str | None = None,
) -> list[schemas.Label]:
    """`scope=g` lists the global labels (open to everyone, as in Harbor); `scope=p&project_id=` a project's."""
    if scope != GLOBAL:
        await _require(registry, subject, scope, project_id, "list")
    found, total = await registry.labels.list(scope=scope, project_id=project_id, name=name, q=q, sort=sort,
                                              offset=paging.offset, limit=paging.limit)
    paging.headers(request, response, total)
    return [label_body(label) for label in found]


@router.post("/labels", operation_id="CreateLabel", status_code=201)
async def create_label(
    request: Request, registry: RegistryDep, subject: SubjectDep, label: Annotated[schemas.LabelIn, Body()],
) -> Response:
    scope = label.scope or ""
    await _require(registry, subject, scope, label.project_id, "create")
    created = await registry.labels.create(label.name or "", label.description or "", label.color or "", scope,
                                           label.project_id)
    return Response(status_code=201, headers={"Location": f"{request.scope.get('root_path', '')}/labels/{created.id}"})


@router.get("/labels/{label_id}", operation_id="GetLabelByID", response_model=schemas.Label)
async def get_label(registry: RegistryDep, subject: SubjectDep, label_id: RowId) -> schemas.Label:
    label = await registry.labels.get(label_id)
    await _require(registry, subject, label.scope, label.project_id, "read")
    return label_body(label)


@router.put("/labels/{label_id}", operation_id="UpdateLabel")
async def update_label(
    registry: RegistryDep, subject: SubjectDep, label_id: RowId, label: Annotated[schemas.LabelIn, Body()],
) -> Response:
    """Name, description and colour change; scope and project do not."""
    current = await registry.labels.get(label_id)
    await _require(registry, subject, current.scope, current.project_id, "update")
    await registry.labels.update(current, label.name, label.description, label.color)
    return Response(status_code=200)


@router.delete("/labels/{label_id}", operation_id="DeleteLabel")
async def delete_label(registry: RegistryDep, subject: SubjectDep, label_id: RowId) -> Response:
    """Deletes the label and takes it off every artifact."""
    current = await registry.labels.get(label_id)
    await _require(registry, subject, current.scope, current.project_id, "delete")
    await registry.labels.delete(label_id)
    return Response(status_code=200)
