"""Swagger tag `repository`: list (all, or one project's), get, update the description, delete."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Body, Request, Response
from berth.api import schemas
from berth.api.deps import (
    PagingDep,
    RegistryDep,
    SubjectDep,
    harbor_time,
    require_project,
    visible_project,
    visible_project_ref,
)
from berth.auth.rbac import Subject, visible_project_ids
from berth.services.errors import NotFound
from berth.services.registry import Registry
from berth.services.repositories import RepositoryRecord

router = APIRouter(tags=["repository"])


def repository_body(repo: RepositoryRecord) -> schemas.Repository:
    return schemas.Repository(
        id=repo.id, project_id=repo.project_id, name=repo.name, description=repo.description,
        artifact_count=repo.artifact_count, pull_count=repo.pull_count,
        creation_time=harbor_time(repo.created_at), update_time=harbor_time(repo.updated_at),
    )


async def repository_in_project(
    registry: Registry, subject: Subject, project_name: str, repository_name: str, resource: str, action: str,
) -> str:
    """The full repository name, when the caller may `action` the project's `resource`.
    `repository_name` is the name inside the project, its slashes encoded twice by Harbor's clients
    (a/b -> a%252Fb), so it arrives here as a%2Fb."""
    project = await visible_project_ref(registry, subject, project_name)
    require_project(subject, project, resource, action)
    return f"{project_name}/{unquote(repository_name)}"


@router.get("/repositories", operation_id="listAllRepositories", response_model=list[schemas.Repository])
async def list_all_repositories(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    q: str | None = None, sort: str | None = None,
) -> list[schemas.Repository]:
    """Repositories of every project the caller may see (public ones included)."""
    projects = visible_project_ids(subject, await registry.projects.public_ids())
    found, total = await registry.repositories.list(
        project_ids=projects, q=q, sort=sort, offset=paging.offset, limit=paging.limit
    )
    paging.headers(request, response, total)
    return [repository_body(repo) for repo in found]


@router.get("/projects/{project_name}/repositories", operation_id="listRepositories", response_model=list[schemas.Repository])
async def list_repositories(
    request: Request, response: Response, registry: RegistryDep, subject: SubjectDep, paging: PagingDep,
    project_name: str, q: str | None = None, sort: str | None = None,
) -> list[schemas.Repository]:
    project = await visible_project(registry, subject, project_name, by_name=True)
    require_project(subject, project, "repository", "list")
    found, total = await registry.repositories.list(
        project_ids={project.id}, q=q, sort=sort, offset=paging.offset, limit=paging.limit
    )
    paging.headers(request, response, total)
    return [repository_body(repo) for repo in found]


@router.get("/projects/{project_name}/repositories/{repository_name}", operation_id="getRepository",
            response_model=schemas.Repository)
async def get_repository(registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str) -> schemas.Repository:
    name = await repository_in_project(registry, subject, project_name, repository_name, "repository", "read")
    return repository_body(await registry.repositories.get(name))


@router.put("/projects/{project_name}/repositories/{repository_name}", operation_id="updateRepository")
async def update_repository(
    registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str,
    repository: Annotated[schemas.RepositoryUpdate, Body()],
) -> Response:
    """Only the description changes."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "repository", "update")
    await registry.repositories.describe(name, repository.description or "")
    return Response(status_code=200)


@router.delete("/projects/{project_name}/repositories/{repository_name}", operation_id="deleteRepository")
async def delete_repository(registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str) -> Response:
    """Deletes the repository with its artifacts and tags (blob bytes stay for the garbage collector)."""
    name = await repository_in_project(registry, subject, project_name, repository_name, "repository", "delete")
    if await registry.repositories.find(name) is None:
        raise NotFound(f"repository {name} not found")
    await registry.delete_repository(name)
    return Response(status_code=200)
