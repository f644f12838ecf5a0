"""Seed a berth registry with many blobs for the GC bench, without 100,000 HTTP pushes.

The fast path writes what a push writes, with berth's own layout and tables: each blob's bytes at
`berth.storage.paths.blob_path(digest)` under the filesystem driver's root (`<data>/storage`), its
`blobs` row; and for the live half, images as a push leaves them: a `manifests` row with the exact
manifest bytes (an OCI image manifest naming its config and layers), its `manifest_blobs`, a tag, and
every blob linked into the repository (`repository_blobs`). The garbage half is what deletes leave:
blobs no manifest references, last linked a day ago, half still linked into a repository (a deleted
artifact's layers, which GC unlinks first) and half unlinked. The project's quota is recounted
(`berth.services.quotas.recount_usage`) as a push would have kept it.

Rows go in batches of INSERTs through berth's Database on the server's database (SQLite or
PostgreSQL; a running server is fine: it keeps no cache of these repositories).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from berth.db.models import Blob, Manifest, ManifestBlob, Project, Repository, RepositoryBlob, Tag
from berth.db.session import Database
from berth.references import parse_digest
from berth.services.quotas import recount_usage
from berth.storage import paths

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
#: blobs per seeded image (one config, the rest layers)
PER_IMAGE = 10
#: images per seeded repository
PER_REPOSITORY = 100
_BATCH = 2000


def _blob(prefix: str, i: int) -> tuple[str, bytes]:
    data = f"{prefix} blob {i} ".encode() * 4
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def _store(root: Path, digest: str, data: bytes) -> None:
    path = root / paths.blob_path(parse_digest(digest))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def seed(data_dir: Path, database_url: str, project: str, prefix: str, total: int, garbage: int) -> None:
    """`total` blobs in project `project` (which must exist), `garbage` of them unreferenced; the live
    ones in images of PER_IMAGE blobs, PER_REPOSITORY images per repository `<project>/<prefix>-N`."""
    asyncio.run(_seed(data_dir, database_url, project, prefix, total, garbage))


async def _seed(data_dir: Path, database_url: str, project: str, prefix: str, total: int, garbage: int) -> None:
    root = data_dir / "storage"
    db = Database(database_url)
    now = datetime.now(UTC)
    old = now - timedelta(days=1)
    live = total - garbage
    try:
        async with db.read() as conn:
            project_id = await conn.scalar(select(Project.id).where(Project.name == project))
        assert project_id is not None, f"project {project} does not exist"
        images = live // PER_IMAGE
        repositories = max(1, -(-images // PER_REPOSITORY))
        async with db.write() as conn:
            repo_ids = [await conn.scalar(insert(Repository).values(
                name=f"{project}/{prefix}-{n}", project_id=project_id, created_at=old, updated_at=old)
                .returning(Repository.id)) for n in range(repositories)]
        blob_rows: list[dict] = []
        link_rows: list[dict] = []
        pending: list[tuple[dict, list[str], int]] = []  # manifest row, its blob digests, tag number

        async def flush() -> None:
            async with db.write() as conn:
                if blob_rows:
                    await conn.execute(insert(Blob), blob_rows)
                if link_rows:
                    await conn.execute(insert(RepositoryBlob), link_rows)
                for row, digests, number in pending:
                    manifest_id = await conn.scalar(insert(Manifest).values(**row).returning(Manifest.id))
                    await conn.execute(insert(ManifestBlob), [{"manifest_id": manifest_id, "digest": d}
                                                               for d in digests])
                    await conn.execute(insert(Tag).values(repository_id=row["repository_id"], name=f"v{number}",
                                                          manifest_id=manifest_id, updated_at=old))
            blob_rows.clear()
            link_rows.clear()
            pending.clear()

        for image in range(images):
            repo_id = repo_ids[image // PER_REPOSITORY]
            blobs = [_blob(prefix, image * PER_IMAGE + k) for k in range(PER_IMAGE)]
            for digest, data in blobs:
                _store(root, digest, data)
                blob_rows.append({"digest": digest, "size": len(data), "created_at": old, "last_linked_at": old})
                link_rows.append({"repository_id": repo_id, "digest": digest, "linked_at": old})
            (config_digest, config), layers = blobs[0], blobs[1:]
            content = json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": len(b)} for d, b in layers],
            }, separators=(",", ":")).encode()
            pending.append(({
                "repository_id": repo_id, "digest": "sha256:" + hashlib.sha256(content).hexdigest(),
                "media_type": OCI_MANIFEST, "artifact_type": OCI_CONFIG, "size": len(content), "content": content,
                "type": "IMAGE", "config_media_type": OCI_CONFIG, "created_at": old,
            }, [d for d, _ in blobs], image % PER_REPOSITORY))
            if len(blob_rows) >= _BATCH:
                await flush()
        for i in range(garbage):
            digest, data = _blob(prefix, live + i)
            _store(root, digest, data)
            blob_rows.append({"digest": digest, "size": len(data), "created_at": old, "last_linked_at": old})
            if i % 2 == 0:  # a deleted artifact's layer, still linked into its repository
                link_rows.append({"repository_id": repo_ids[i % len(repo_ids)], "digest": digest, "linked_at": old})
            if len(blob_rows) >= _BATCH:
                await flush()
        await flush()
        async with db.write() as conn:
            await recount_usage(conn, project_id)
    finally:
        await db.close()
