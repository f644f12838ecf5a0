"""Blob storage: one small driver interface and its drivers."""

from __future__ import annotations

from typing import Any

from berth.storage.base import BlobNotFound, StorageDriver

__all__ = ["BlobNotFound", "StorageDriver", "make_driver", "validate_key"]

_OBJECTSTORE_KINDS = {"objectstore", "s3", "azure", "gcs", "memory"}


def validate_key(key: str) -> str:
    """Return key if it is a relative `a/b/c` path; ValueError otherwise.

    Keys come from storage.paths, so this is defence in depth: no driver ever
    touches an absolute path, a `..`, `.` or empty component, a backslash or NUL.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("empty storage key")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid storage key: {key!r}")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"invalid storage key: {key!r}")
    return key


def make_driver(kind: str, options: dict[str, Any]) -> StorageDriver:
    """Build a driver from configuration.

    kind "filesystem": options {"root": path}.
    kind "objectstore" (or "s3", "azure", "gcs", "memory"): options {"url": ...,
    "prefix": optional key prefix, everything else passed to the obstore store}.
    """
    options = dict(options)
    if kind == "filesystem":
        from berth.storage.filesystem import FilesystemDriver

        return FilesystemDriver(options.pop("root"))
    if kind in _OBJECTSTORE_KINDS:
        from berth.storage.objectstore import from_url

        url = options.pop("url", "memory://" if kind == "memory" else None)
        if url is None:
            raise ValueError(f"storage kind {kind!r} needs a url option")
        prefix = options.pop("prefix", "")
        return from_url(url, options, prefix=prefix)
    raise ValueError(f"unknown storage kind: {kind!r}")
