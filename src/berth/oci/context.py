"""What every /v2 handler is given: the registry services, the authenticator and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from berth.auth.authenticator import Authenticator
from berth.auth.rbac import Subject, repository_actions
from berth.config import Settings
from berth.services.registry import Registry


@dataclass(frozen=True, slots=True)
class Front:
    registry: Registry
    settings: Settings
    auth: Authenticator

    def url(self, path: str) -> str:
        """A Location for `path`: absolute behind a proxy (public_url), else relative."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/") + path
        return path

    async def may(self, subject: Subject, repository: str, action: str) -> bool:
        """Whether `subject` holds `action` (pull, push, delete) on `repository`."""
        if "/" not in repository:
            return False
        project = await self.registry.projects.ref(repository.split("/", 1)[0])
        return project is not None and action in repository_actions(subject, project, repository)
