"""The image walk: resolve a reference to one platform's manifest, read its layers in order into
the view, detect packages, and say which layer brought each one."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import orjson

from berth import mediatypes
from berth.references import digest_of, is_digest_reference
from berth.scan.detect import Detector, Found, OSPackage, OSRelease, default_detectors, finish_os_package, os_info
from berth.scan.layers import READ_ERRORS, LayerCapExceeded, read_layer
from berth.scan.limits import Limits
from berth.scan.model import ImageInventory, Layer, Package
from berth.scan.platforms import DEFAULT_PLATFORM, Platform, choose_manifest
from berth.scan.sources.base import BlobMissing, BlobSource
from berth.scan.view import View

#: media types whose blobs are filesystem changesets (tar, maybe compressed)
LAYER_MEDIA_TYPES = (
    frozenset(
        {
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.diff.tar",
        }
    )
    | mediatypes.NON_DISTRIBUTABLE
)
CONFIG_MEDIA_TYPES = frozenset({mediatypes.OCI_CONFIG, mediatypes.DOCKER_CONFIG})
DEFAULT_LIMITS = Limits()
#: an image config is a few KiB; this bounds what a hostile one can make us hold
_MAX_CONFIG_BYTES = 16 << 20
#: an index may point at an index; deeper than this is a loop or abuse
_MAX_INDEX_DEPTH = 4


class UnsupportedImage(Exception):
    """The reference does not name a container image the walk can read (schema 1, a Helm chart…)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ResolvedManifest:
    digest: str
    document: dict
    #: from the index that pointed at it, when there was one
    platform: Platform | None


def resolve(source: BlobSource, reference: str | None, platform: Platform) -> ResolvedManifest:
    """Follow indexes down to the image manifest for `platform`."""
    media_type, data = source.manifest(reference)
    digest = reference if reference and is_digest_reference(reference) else digest_of(data)
    chosen: Platform | None = None
    for _ in range(_MAX_INDEX_DEPTH):
        if media_type in mediatypes.SCHEMA1:
            raise UnsupportedImage("Docker schema 1 manifests are not supported")
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UnsupportedImage("the manifest is not JSON") from exc
        if media_type in mediatypes.IMAGE_MANIFESTS:
            return ResolvedManifest(digest, document, chosen)
        if media_type not in mediatypes.INDEXES:
            raise UnsupportedImage(f"manifest media type {media_type} is not an image or an index")
        descriptor = choose_manifest(document, platform)
        chosen = Platform.of(descriptor.get("platform") or {})
        digest = str(descriptor.get("digest", ""))
        media_type, data = source.manifest(digest)
    raise UnsupportedImage("indexes nested too deep")


def read_config(source: BlobSource, manifest: dict) -> dict:
    descriptor = manifest.get("config") or {}
    if descriptor.get("mediaType") not in CONFIG_MEDIA_TYPES:
        raise UnsupportedImage(f"not a container image (config {descriptor.get('mediaType')})")
    if int(descriptor.get("size") or 0) > _MAX_CONFIG_BYTES:
        raise UnsupportedImage("image config over 16 MiB")
    with source.open_blob(str(descriptor.get("digest", ""))) as blob:
        data = blob.read(_MAX_CONFIG_BYTES + 1)
        blob.read()  # to the end, so the digest is checked
    try:
        config = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UnsupportedImage("the image config is not JSON") from exc
    return config if isinstance(config, dict) else {}


def image_layers(manifest: dict, config: dict) -> list[Layer]:
    """The manifest's layers, each with its diff_id from the config (by position)."""
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    layers = []
    for position, descriptor in enumerate(manifest.get("layers") or []):
        diff_id = diff_ids[position] if position < len(diff_ids) and isinstance(diff_ids[position], str) else None
        layers.append(
            Layer(
                digest=str(descriptor.get("digest", "")),
                diff_id=diff_id,
                media_type=descriptor.get("mediaType"),
                size=descriptor.get("size"),
            )
        )
    return layers


def inventory(
    source: BlobSource,
    reference: str | None,
    *,
    platform: str = DEFAULT_PLATFORM,
    limits: Limits = DEFAULT_LIMITS,
    detectors: Sequence[Detector] | None = None,
) -> ImageInventory:
    """Everything installed in the image: OS, OS and language packages with the layer that added
    each. A layer that cannot be read is skipped with a one-line reason in `skipped`; what it
    yielded before the problem is kept. Raises SourceError or UnsupportedImage (and
    NoMatchingPlatform) when there is no image to walk at all."""
    detectors = list(detectors) if detectors is not None else default_detectors()
    resolved = resolve(source, reference, Platform.parse(platform))
    config = read_config(source, resolved.document)
    layers = image_layers(resolved.document, config)
    result = ImageInventory(
        manifest_digest=resolved.digest,
        platform=str(Platform.of(config) or resolved.platform or "") or None,
        layers=layers,
    )
    view = View()
    since: dict[tuple[str, Found], int] = {}
    for position, layer in enumerate(layers):
        label = f"layer {position + 1} ({layer.digest})"
        if layer.media_type not in LAYER_MEDIA_TYPES:
            result.skipped.append(f"{label}: media type {layer.media_type} is not a filesystem layer")
            continue
        notes: list[str] = []
        try:
            with source.open_blob(layer.digest) as blob:
                read_layer(blob, position, view, detectors, limits, notes)
        except LayerCapExceeded as exc:
            notes.append(f"skipped the rest: {exc}")
        except BlobMissing as exc:
            notes.append(f"not available: {exc}")
        except READ_ERRORS as exc:
            notes.append(f"unreadable, kept what was read before: {_one_line(exc)}")
        result.skipped.extend(f"{label}: {' '.join(note.split())}" for note in notes)
        # a package belongs to the first layer of the run of layers whose view holds it
        since = {key: since.get(key, position) for key in view.items()}
    releases = [found for _, found in view.items() if isinstance(found, OSRelease)]
    result.os = os_info(releases)
    result.packages = _packages(since, layers, result)
    return result


def _packages(since: dict[tuple[str, Found], int], layers: list[Layer], result: ImageInventory) -> list[Package]:
    packages = []
    for (path, found), position in since.items():
        layer = layers[position]
        if isinstance(found, OSPackage):
            packages.append(finish_os_package(found, result.os, path, layer))
        elif isinstance(found, Package):
            packages.append(dataclasses.replace(found, layer=layer))
    packages = without_lockfile_duplicates(packages)
    packages.sort(key=lambda p: (p.kind != "os", p.path or "", p.name, p.version))
    return packages


def without_lockfile_duplicates(packages: list[Package]) -> list[Package]:
    """Drop what a package-lock.json lists when node_modules has the same package installed."""
    installed = {
        (p.name, p.version)
        for p in packages
        if p.ecosystem == "npm" and not (p.path or "").endswith("package-lock.json")
    }
    return [
        p
        for p in packages
        if not (
            p.ecosystem == "npm" and (p.path or "").endswith("package-lock.json") and (p.name, p.version) in installed
        )
    ]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
