"""Choosing one platform's manifest from an OCI index or Docker manifest list (pure)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PLATFORM = "linux/amd64"


class NoMatchingPlatform(LookupError):
    """The index lists no manifest for the wanted platform."""


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`os/arch[/variant]`, as docker's --platform spells it."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"platform {text!r} is not os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def of(cls, document: dict) -> Platform | None:
        """From a descriptor's `platform` object or an image config (same field names)."""
        os, architecture = document.get("os"), document.get("architecture")
        if not isinstance(os, str) or not isinstance(architecture, str):
            return None
        variant = document.get("variant")
        return cls(os, architecture, variant if isinstance(variant, str) and variant else None)

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")

    def satisfies(self, wanted: Platform) -> bool:
        """Same OS and architecture, and the variant when one is asked for."""
        return (
            self.os == wanted.os
            and self.architecture == wanted.architecture
            and (wanted.variant is None or self.variant == wanted.variant)
        )


def choose_manifest(index: dict, wanted: Platform) -> dict:
    """The descriptor of the first manifest for the wanted platform (attestations have "unknown/unknown")."""
    for descriptor in index.get("manifests") or []:
        if not isinstance(descriptor, dict):
            continue
        platform = Platform.of(descriptor.get("platform") or {})
        if platform is not None and platform.satisfies(wanted):
            return descriptor
    offered = sorted(
        {
            str(p)
            for d in index.get("manifests") or []
            if isinstance(d, dict) and (p := Platform.of(d.get("platform") or {}))
        }
    )
    raise NoMatchingPlatform(f"no {wanted} manifest in the index (it has: {', '.join(offered) or 'none'})")
