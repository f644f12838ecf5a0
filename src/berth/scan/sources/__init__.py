"""Blob sources the image walk reads from: an OCI layout directory, any registry, berth's own storage."""

from berth.scan.sources.base import (
    BlobMissing,
    BlobSource,
    DigestMismatch,
    ManifestNotFound,
    SourceError,
    VerifyingReader,
)
from berth.scan.sources.oci_layout import OCILayoutSource
from berth.scan.sources.registry import RegistryAuthError, RegistrySource
from berth.scan.sources.storage import StorageSource, database_manifests

__all__ = [
    "BlobMissing",
    "BlobSource",
    "DigestMismatch",
    "ManifestNotFound",
    "OCILayoutSource",
    "RegistryAuthError",
    "RegistrySource",
    "SourceError",
    "StorageSource",
    "VerifyingReader",
    "database_manifests",
]
