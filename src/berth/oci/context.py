"""What every /v2 handler is given: the registry services and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from berth.config import Settings
from berth.services.registry import Registry


@dataclass(frozen=True, slots=True)
class Front:
    registry: Registry
    settings: Settings

    def url(self, path: str) -> str:
        """A Location for `path`: absolute behind a proxy (public_url), else relative."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/") + path
        return path
