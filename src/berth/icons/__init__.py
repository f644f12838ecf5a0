"""The icons of artifact kinds (berth's own 50x50 PNGs, drawn by scripts/draw_icons.py), by sha256 digest.

The artifact API names an artifact's icon by digest in `icon` (as Harbor does); GET /icons/{digest}
serves it. Pure: which icon a type has, and the bytes behind a digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from berth.artifact_types import CHART, CNAB, CNAI, IMAGE, SBOM, WASM

CONTENT_TYPE = "image/png"
#: Harbor's artifact type -> the icon's file; any other type (a vendor's, UNKNOWN) gets "default"
_BY_TYPE = {IMAGE: "image", CHART: "chart", CNAB: "cnab", WASM: "wasm", SBOM: "sbom", CNAI: "cnai"}
#: Harbor's accessory type -> the icon's file; other accessories have none (Harbor's icon is "" there)
_BY_ACCESSORY = {"signature.cosign": "cosign", "signature.notation": "notation", "sbom.harbor": "sbom"}


@dataclass(frozen=True, slots=True)
class Icon:
    digest: str
    content: bytes
    content_type: str = CONTENT_TYPE


@cache
def _icons() -> dict[str, Icon]:
    """File name -> icon, read once from the package."""
    icons = {}
    for name in {*_BY_TYPE.values(), *_BY_ACCESSORY.values(), "default"}:
        content = resources.files(__name__).joinpath(f"{name}.png").read_bytes()
        icons[name] = Icon(f"sha256:{hashlib.sha256(content).hexdigest()}", content)
    return icons


def icon_of_type(artifact_type: str) -> str:
    """The digest of an artifact type's icon (the artifact API's `icon`)."""
    return _icons()[_BY_TYPE.get(artifact_type, "default")].digest


def icon_of_accessory(accessory_type: str) -> str:
    """The digest of an accessory type's icon, or "" when it has none."""
    name = _BY_ACCESSORY.get(accessory_type)
    return _icons()[name].digest if name else ""


def find_icon(digest: str) -> Icon | None:
    return next((icon for icon in _icons().values() if icon.digest == digest), None)
