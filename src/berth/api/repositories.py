"""Swagger tag `repository` (first part): deleting a repository with everything in it.

Listing, reading and updating repositories arrive with the artifacts API.
"""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import APIRouter, Response

from berth.api.deps import RegistryDep, SubjectDep, require_project, visible_project
from berth.services.errors import NotFound

router = APIRouter(tags=["repository"])


@router.delete("/projects/{project_name}/repositories/{repository_name:path}", operation_id="deleteRepository")
async def delete_repository(
    registry: RegistryDep, subject: SubjectDep, project_name: str, repository_name: str,
) -> Response:
    """`repository_name` is the name inside the project; Harbor's clients encode its slashes twice (a%252Fb)."""
    project = await visible_project(registry, subject, project_name, by_name=True)
    require_project(subject, project, "repository", "delete")
    name = f"{project.name}/{unquote(repository_name)}"
    if await registry.repositories.find(name) is None:
        raise NotFound(f"repository {name} not found")
    await registry.delete_repository(name)
    return Response(status_code=200)
