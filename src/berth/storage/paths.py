"""The whole layout of berth's blob storage, in one place.

Every driver stores objects under these keys, relative to its root::

    <root>/
      blobs/
        sha256/
          ab/
            abcdef0123…/        one folder per blob, named by the full hex digest
              data              the blob's bytes, only ever created whole (move or atomic put)
        sha512/
          …
      uploads/
        <upload-uuid>/
          000000000000000000000 the bytes received at offset 0: on the filesystem the one working
                                file every chunk is appended to; on object stores one object per
                                PATCH/PUT body, then
          000000000000001048576 the bytes received at offset 1048576, …
      exports/
        scandata_export_<execution id>.csv
                                a scan data export's CSV (Harbor's /export/cve), written whole by its
                                job, deleted once downloaded or after the export retention
      tmp/                      driver-private scratch space (filesystem: files before fsync+rename)

Manifests are not here: their bytes live in SQL with their metadata.
A blob key is derived from a parsed Digest and an upload key from a canonical
UUID, so no client-supplied text ever reaches a path unchecked.
"""

from __future__ import annotations

import uuid

from berth.references import Digest, parse_digest

BLOBS = "blobs"
UPLOADS = "uploads"
TMP = "tmp"
EXPORTS = "exports"
_OFFSET_WIDTH = 21


def blob_path(digest: Digest) -> str:
    return f"{BLOBS}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}/data"


def blob_digest_of(key: str) -> Digest | None:
    """The digest whose bytes a blob key holds (inverse of blob_path), None for other keys."""
    parts = key.split("/")
    if len(parts) != 5 or parts[0] != BLOBS or parts[4] != "data" or parts[3][:2] != parts[2]:
        return None
    try:
        return parse_digest(f"{parts[1]}:{parts[3]}")
    except ValueError:
        return None


def upload_id_of(key: str) -> str | None:
    """The upload session a key under uploads/ belongs to, None for other keys."""
    parts = key.split("/")
    if len(parts) < 2 or parts[0] != UPLOADS:
        return None
    try:
        return canonical_upload_id(parts[1])
    except ValueError:
        return None


def upload_dir(upload_id: str) -> str:
    return f"{UPLOADS}/{canonical_upload_id(upload_id)}"


def upload_part_path(upload_id: str, offset: int) -> str:
    if offset < 0:
        raise ValueError("negative offset")
    return f"{upload_dir(upload_id)}/{offset:0{_OFFSET_WIDTH}d}"


def upload_part_offset(path: str) -> int:
    """The offset a part key was written at (inverse of upload_part_path)."""
    return int(path.rsplit("/", 1)[1])


def scan_export_path(execution_id: int) -> str:
    if execution_id < 0:
        raise ValueError("negative execution id")
    return f"{EXPORTS}/scandata_export_{execution_id}.csv"


def scan_export_id(path: str) -> int | None:
    """The execution id of a scan export key (inverse of scan_export_path), None for other keys."""
    name = path.rsplit("/", 1)[-1]
    number = name.removeprefix("scandata_export_").removesuffix(".csv")
    return int(number) if name != number and number.isdigit() else None


def canonical_upload_id(upload_id: str) -> str:
    """Return the canonical form of an upload id; ValueError if it is not a UUID."""
    return str(uuid.UUID(upload_id))
