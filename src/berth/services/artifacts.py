"""Artifacts as Harbor presents them: a manifest in a repository with its tags, the children of an
index (references), its accessories (signatures, SBOMs and other referrers), and attributes read
from its config. Deleting an artifact takes its accessories and untagged children with it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sqlalchemy import Select, and_, delete, exists, false, func, not_, or_, select
from sqlalchemy.exc import IntegrityError

from berth.artifact_types import CHART, IMAGE, UNKNOWN
from berth.charts import chart_details
from berth.db.models import ArtifactLabel, Blob, Manifest, ManifestBlob, ManifestChild, Repository, Tag, utcnow
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import TagCreated, TagDeleted
from berth import mediatypes
from berth.query import AllOf, AnyOf, Fuzzy, QueryInvalid, parse_query
from berth.references import is_digest_reference, is_valid_tag
from berth.services.blobs import BlobService, parse_blob_digest
from berth.services.cache import LruCache
from berth.services.errors import BadRequest, Conflict, Denied, NotFound, PreconditionFailed
from berth.services.immutability import delete_refused, update_refused
from berth.services.manifests import ManifestService, cosign_subject, parse_manifest, refuse_immutable_delete
from berth.services.querying import condition, conditions, fits, orderings
from berth.services.quotas import QuotaService
from berth.services.repositories import RepositoryService

#: a config blob larger than this is not read for extra_attrs
MAX_CONFIG_BYTES = 1024 * 1024
#: a chart package larger than this is not opened for its additions
MAX_CHART_BYTES = 32 * 1024 * 1024

COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
# accessory types by the accessory's artifactType (else config media type), as Harbor names them
_ACCESSORY_TYPES = {
    "application/vnd.cncf.notary.signature": "signature.notation",
    "application/vnd.dev.cosign.artifact.sig.v1+json": "signature.cosign",
    "application/vnd.goharbor.harbor.sbom.v1": "sbom.harbor",
}


@dataclass(frozen=True, slots=True)
class TagRecord:
    id: int
    repository_id: int
    artifact_id: int
    name: str
    push_time: datetime
    pull_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReferenceRecord:
    parent_id: int
    child_id: int | None
    child_digest: str
    platform: dict[str, Any] | None
    annotations: dict[str, str] | None
    urls: list[str] | None


@dataclass(frozen=True, slots=True)
class AccessoryRecord:
    id: int
    artifact_id: int
    subject_artifact_id: int
    subject_artifact_digest: str
    subject_artifact_repo: str
    size: int
    digest: str
    type: str
    creation_time: datetime


@dataclass(slots=True)
class ArtifactRecord:
    id: int
    repository_id: int
    repository_name: str
    project_id: int | None
    digest: str
    manifest_media_type: str
    media_type: str
    artifact_type: str
    type: str
    size: int
    push_time: datetime
    pull_time: datetime | None
    annotations: dict[str, str] | None
    content: bytes
    #: `content` parsed, once (lists read it for references, extra_attrs and additions)
    doc: dict[str, Any]
    tags: list[TagRecord] = field(default_factory=list)
    references: list[ReferenceRecord] = field(default_factory=list)
    accessories: list[AccessoryRecord] = field(default_factory=list)


def accessory_type(artifact_type: str | None, content: bytes = b"") -> str:
    """Harbor's accessory type: by artifactType, or a cosign simple-signing layer (cosign's tag scheme).
    A Sigstore bundle is a cosign signature in either spelling of its media type (Harbor knows only
    `.v0.3+json`; sigstore-js's `sigstore attach` also writes `+json;version=0.2`)."""
    known = _ACCESSORY_TYPES.get(artifact_type or "")
    if known is not None:
        return known
    if mediatypes.is_sigstore_bundle(artifact_type):
        return "signature.cosign"
    if COSIGN_SIMPLESIGNING.encode() in content:
        layers = orjson.loads(content).get("layers") or []
        if any(isinstance(layer, dict) and layer.get("mediaType") == COSIGN_SIMPLESIGNING for layer in layers):
            return "signature.cosign"
    return "subject.accessory"


class ArtifactService:
    def __init__(
        self, db: Database, repositories: RepositoryService, manifests: ManifestService, blobs: BlobService,
        events: EventBus | None = None, quotas: QuotaService | None = None,
    ) -> None:
        self._db = db
        self._events = events or EventBus()
        self._repositories = repositories
        self._manifests = manifests
        self._blobs = blobs
        self._quotas = quotas
        #: config digest -> parsed config (content-addressed, so never stale)
        self._configs: LruCache[str, dict[str, Any]] = LruCache(max_entries=10_000, max_weight=64 * 1024 * 1024,
                                                                weigh=lambda c: len(orjson.dumps(c)))

    # --- reads -----------------------------------------------------------------------------------

    async def list(
        self, repository: str, *, q: str | None, sort: str | None, offset: int, limit: int,
    ) -> tuple[list[ArtifactRecord], int]:
        """A page of the repository's artifacts and the total. As in Harbor, an index's untagged
        children are not listed on their own; accessories are listed under their subject only."""
        repo_id = await self._require(repository)
        query = self.list_query(repo_id, q, sort)
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
            ids = (await conn.execute(query.offset(offset).limit(limit))).scalars().all()
        records = await self._load(repository, repo_id, list(ids))
        return records, total

    def list_query(self, repo_id: int, q: str | None, sort: str | None) -> Select:
        """The ordered SELECT of a repository's listed artifact ids (index-backed; see the bench)."""
        child = exists().where(
            ManifestChild.child_digest == Manifest.digest,
            ManifestChild.manifest_id.in_(select(Manifest.id).where(Manifest.repository_id == repo_id).scalar_subquery()),
        )
        tagged = exists().where(Tag.manifest_id == Manifest.id)
        query = select(Manifest.id).where(
            Manifest.repository_id == repo_id, or_(tagged, not_(child)), Manifest.subject_digest.is_(None),
            *self._conditions(q, repo_id),
        )
        keys = {"push_time": Manifest.created_at, "pull_time": Manifest.pull_time, "digest": Manifest.digest,
                "size": Manifest.size, "type": Manifest.type, "id": Manifest.id}
        return query.order_by(*orderings(sort, keys, [Manifest.created_at.desc(), Manifest.id.desc()]))

    def _conditions(self, q: str | None, repo_id: int) -> list[Any]:
        columns = {"digest": Manifest.digest, "type": Manifest.type, "media_type": Manifest.config_media_type,
                   "manifest_media_type": Manifest.media_type, "artifact_type": Manifest.artifact_type,
                   "push_time": Manifest.created_at, "pull_time": Manifest.pull_time, "size": Manifest.size}
        try:
            keywords = parse_query(q, {*columns, "tags", "labels"})
        except QueryInvalid as exc:
            raise BadRequest(str(exc)) from None
        out = []
        for key, value in keywords.items():
            if key == "tags":
                tag = select(Tag.id).where(Tag.manifest_id == Manifest.id)
                if value == "nil":  # untagged artifacts
                    out.append(not_(exists(tag)))
                elif value == "*":  # tagged artifacts
                    out.append(exists(tag))
                elif isinstance(value, Fuzzy | AnyOf | str):
                    out.append(exists(tag.where(condition(Tag.name, value))))
                else:
                    raise BadRequest("tags takes an exact value, ~fuzzy, {any of}, nil or *")
                continue
            if key == "labels":
                out.append(_with_labels(value))
                continue
            out.append(condition(columns[key], value))
        return out

    async def get(self, repository: str, reference: str) -> ArtifactRecord:
        repo_id = await self._require(repository)
        if is_digest_reference(reference):
            condition = Manifest.digest == str(parse_blob_digest(reference))
        else:
            if not is_valid_tag(reference):
                raise BadRequest(f"invalid reference {reference[:200]!r}: a tag or a digest")
            condition = Manifest.id.in_(
                select(Tag.manifest_id).where(Tag.repository_id == repo_id, Tag.name == reference).scalar_subquery()
            )
        async with self._db.read() as conn:
            manifest_id = await conn.scalar(select(Manifest.id).where(Manifest.repository_id == repo_id, condition))
        if manifest_id is None:
            raise NotFound(f"artifact {repository}:{reference} not found")
        return (await self._load(repository, repo_id, [manifest_id]))[0]

    async def _require(self, repository: str) -> int:
        repo_id = await self._repositories.find(repository)
        if repo_id is None:
            raise NotFound(f"repository {repository} not found")
        return repo_id

    async def _load(self, repository: str, repo_id: int, ids: list[int]) -> list[ArtifactRecord]:
        if not ids:
            return []
        async with self._db.read() as conn:
            project_id = await conn.scalar(select(Repository.project_id).where(Repository.id == repo_id))
            rows = {row.id: row for row in await conn.execute(select(Manifest).where(Manifest.id.in_(ids)))}
            records = {
                i: ArtifactRecord(
                    row.id, repo_id, repository, project_id, row.digest, row.media_type, row.config_media_type,
                    row.artifact_type or "", row.type, row.size, row.created_at, row.pull_time,
                    orjson.loads(row.annotations) if row.annotations else None, bytes(row.content),
                    orjson.loads(row.content),
                )
                for i, row in rows.items()
            }
            for tag in await conn.execute(select(Tag).where(Tag.manifest_id.in_(ids)).order_by(Tag.updated_at, Tag.id)):
                records[tag.manifest_id].tags.append(TagRecord(tag.id, repo_id, tag.manifest_id, tag.name, tag.updated_at, tag.pull_time))
            digests = {record.digest: record for record in records.values()}
            accessories = await conn.execute(
                select(Manifest.id, Manifest.digest, Manifest.size, Manifest.artifact_type, Manifest.subject_digest,
                       Manifest.created_at, Manifest.content)
                .where(Manifest.repository_id == repo_id, Manifest.subject_digest.in_(list(digests)))
                .order_by(Manifest.created_at, Manifest.id)
            )
            for acc in accessories:
                subject = digests[acc.subject_digest]
                subject.accessories.append(AccessoryRecord(
                    acc.id, acc.id, subject.id, subject.digest, repository, acc.size, acc.digest,
                    accessory_type(acc.artifact_type, bytes(acc.content)), acc.created_at,
                ))
            child_ids = dict(
                (await conn.execute(select(Manifest.digest, Manifest.id).where(Manifest.repository_id == repo_id)
                                    .where(Manifest.digest.in_(_child_digests(records.values()))))).all()
            )
        for record in records.values():
            record.references = _references(record, child_ids)
        return [records[i] for i in ids if i in records]

    async def extra_attrs(self, artifact: ArtifactRecord) -> dict[str, Any]:
        """Harbor's extra_attrs: for an image, created/architecture/os/config/author from its config; for
        another known kind, the whole config; nothing for indexes and unknown kinds."""
        if artifact.type == UNKNOWN or artifact.manifest_media_type in mediatypes.INDEXES:
            return {}
        config = await self._config(artifact.doc)
        if artifact.type != IMAGE:
            return config
        inner = config.get("config") or {}
        author = config.get("author") or ""
        labels = inner.get("Labels") or {}
        if not author and isinstance(labels, dict):
            author = labels.get("org.opencontainers.image.authors") or labels.get("maintainer") or ""
        return {"created": config.get("created"), "architecture": config.get("architecture"), "os": config.get("os"),
                "config": inner, "author": author}

    # --- additions -------------------------------------------------------------------------------

    @staticmethod
    def addition_types(artifact: ArtifactRecord) -> list[str]:
        """The additions Harbor offers for the artifact's kind (an image's `vulnerabilities` are the
        scan reports', served by the API from them)."""
        if artifact.manifest_media_type in mediatypes.INDEXES:
            return []
        if artifact.type == IMAGE:
            return ["build_history", "vulnerabilities"]
        if artifact.type == CHART:
            return ["values.yaml", "readme.md", "dependencies"]
        return []

    async def addition(self, artifact: ArtifactRecord, name: str) -> tuple[str, bytes]:
        """(content type, bytes) of an addition: an image's build history, a chart's values.yaml,
        README or dependencies; 400 for an addition the kind does not have (Harbor's message)."""
        if name not in self.addition_types(artifact) or name == "vulnerabilities":
            raise BadRequest(f"addition {name} isn't supported for {artifact.type}")
        doc = artifact.doc
        if name == "build_history":
            config = await self._config(doc)
            return "application/json; charset=utf-8", orjson.dumps(config.get("history") or [])
        layer = next((l for l in doc.get("layers") or [] if l.get("digest") != (doc.get("config") or {}).get("digest")), None)
        if layer is None or not isinstance(layer.get("size"), int) or layer["size"] > MAX_CHART_BYTES:
            raise BadRequest(f"the chart has no readable package (at most {MAX_CHART_BYTES} bytes)")
        data = b"".join([chunk async for chunk in self._blobs.read(parse_blob_digest(layer["digest"]))])
        details = await asyncio.to_thread(chart_details, data)
        if name == "values.yaml":
            return "text/plain; charset=utf-8", details.values.encode()
        if name == "readme.md":
            return "text/markdown; charset=utf-8", details.readme.encode()
        return "application/json; charset=utf-8", orjson.dumps(details.dependencies)

    async def sbom(self, artifact: ArtifactRecord) -> tuple[str, int, AsyncIterator[bytes]]:
        """(media type, size, bytes streamed) of the document of the artifact's SBOM accessory (the
        newest, Harbor keeps one); NotFound when it has none."""
        stored = sorted((a for a in artifact.accessories if a.type == "sbom.harbor"),
                        key=lambda a: (a.creation_time, a.id))
        if not stored:
            raise NotFound(f"artifact {artifact.repository_name}@{artifact.digest} has no SBOM")
        accessory = await self.get(artifact.repository_name, stored[-1].digest)
        layer = next((l for l in accessory.doc.get("layers") or [] if isinstance(l, dict)), None)
        if layer is None or not isinstance(layer.get("size"), int) or not isinstance(layer.get("digest"), str):
            raise NotFound(f"the SBOM of {artifact.repository_name}@{artifact.digest} holds no document")
        media_type = str(layer.get("mediaType") or "application/octet-stream")
        return media_type, layer["size"], self._blobs.read(parse_blob_digest(layer["digest"]))

    async def _config(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The manifest's config as JSON (cached by digest; {} when absent, too large or not JSON)."""
        config_ref = doc.get("config") or {}
        digest, size = config_ref.get("digest"), config_ref.get("size", 0)
        if not isinstance(digest, str) or not isinstance(size, int) or size > MAX_CONFIG_BYTES:
            return {}
        config = self._configs.get(digest)
        if config is None:
            data = b"".join([chunk async for chunk in self._blobs.read(parse_blob_digest(digest))])
            try:
                parsed = json.loads(data)
            except ValueError:
                return {}
            config = parsed if isinstance(parsed, dict) else {}
            self._configs.put(digest, config)
        return config

    # --- writes ----------------------------------------------------------------------------------

    async def delete(self, repository: str, reference: str) -> None:
        """Delete an artifact with its accessories and the children no one else needs (as Harbor);
        refused (412) while an index lists it or one of its tags is immutable."""
        artifact = await self.get(repository, reference)
        if await self._parents(artifact.repository_id, artifact.digest):
            raise _ReferencedByOthers("the deleting artifact is referenced by others")
        # before its accessories go: the manifest delete checks again, in its transaction
        refuse_immutable_delete(await self._manifests.immutable_rules(repository), repository,
                                [tag.name for tag in artifact.tags])
        await self._delete_deeply(repository, artifact.repository_id, artifact.digest, root=True)

    async def delete_unused(self, repository: str, digest: str) -> None:
        """The garbage collector's delete of an untagged artifact: the manifest goes first, only if
        it is still untagged and no index lists it (a push may have tagged it since GC looked), then
        its accessories and the children no one else needs. PreconditionFailed if it is in use."""
        artifact = await self.get(repository, digest)
        if artifact.tags:
            raise PreconditionFailed("the artifact was tagged meanwhile")
        async with self._db.read() as conn:
            accessories = (await conn.execute(select(Manifest.digest).where(
                Manifest.repository_id == artifact.repository_id,
                Manifest.subject_digest == artifact.digest))).scalars().all()
            children = (await conn.execute(select(ManifestChild.child_digest).where(
                ManifestChild.manifest_id == artifact.id))).scalars().all()
        await self._manifests.delete(repository, artifact.digest, unused_only=True)
        for accessory in accessories:
            await self._delete_deeply(repository, artifact.repository_id, accessory, root=True)
        for child in children:
            await self._delete_deeply(repository, artifact.repository_id, child, root=False)

    async def _parents(self, repo_id: int, digest: str) -> int:
        async with self._db.read() as conn:
            return int(await conn.scalar(
                select(func.count()).select_from(ManifestChild).join(Manifest, Manifest.id == ManifestChild.manifest_id)
                .where(Manifest.repository_id == repo_id, ManifestChild.child_digest == digest)
            ) or 0)

    async def _delete_deeply(self, repository: str, repo_id: int, digest: str, root: bool) -> None:
        async with self._db.read() as conn:
            manifest_id = await conn.scalar(select(Manifest.id).where(Manifest.repository_id == repo_id, Manifest.digest == digest))
            if manifest_id is None:
                return
            tagged = await conn.scalar(select(func.count()).select_from(Tag).where(Tag.manifest_id == manifest_id))
            accessories = (await conn.execute(select(Manifest.digest).where(
                Manifest.repository_id == repo_id, Manifest.subject_digest == digest))).scalars().all()
            children = (await conn.execute(select(ManifestChild.child_digest).where(
                ManifestChild.manifest_id == manifest_id))).scalars().all()
        if not root and (tagged or await self._parents(repo_id, digest)):
            return  # a child someone still needs
        for accessory in accessories:
            await self._delete_deeply(repository, repo_id, accessory, root=True)
        await self._manifests.delete(repository, digest)
        for child in children:
            await self._delete_deeply(repository, repo_id, child, root=False)

    async def copy(self, source: str, reference: str, target: str) -> str:
        """Copy an artifact (with its children and accessories, and the tags of the outermost one) into
        `target`, as Harbor does; returns its digest. Accessories are copied with their subject only."""
        artifact = await self.get(source, reference)
        async with self._db.read() as conn:
            subject = await conn.scalar(select(Manifest.subject_digest).where(Manifest.id == artifact.id))
        if subject is not None:
            raise Denied("the operation isn't supported for an artifact accessory")
        if self._quotas is not None:
            sizes: dict[str, int] = {}
            await self._copy_sizes(artifact.repository_id, artifact.digest, sizes)
            await self._quotas.precheck(target, sizes, digest=artifact.digest)
        await self._copy_deeply(source, artifact.repository_id, artifact.digest, target,
                                [tag.name for tag in artifact.tags], root=True)
        return artifact.digest

    async def _copy_deeply(self, source: str, source_id: int, digest: str, target: str, tags: list[str], root: bool) -> None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(Manifest.media_type, Manifest.content).where(
                Manifest.repository_id == source_id, Manifest.digest == digest))).first()
            accessories = (await conn.execute(select(Manifest.id, Manifest.digest).where(
                Manifest.repository_id == source_id, Manifest.subject_digest == digest))).all()
            # cosign's tag scheme names an accessory's subject in its tag alone: the copy takes that tag
            scheme_tags = {manifest_id: name for manifest_id, name in (await conn.execute(
                select(Tag.manifest_id, Tag.name).where(Tag.manifest_id.in_([a.id for a in accessories])))).all()
                if cosign_subject(name) == digest} if accessories else {}
        if row is None:
            return  # a child the source does not hold (a foreign manifest in an index)
        target_id = await self._repositories.find(target)
        present = target_id is not None and await self._holds(target_id, digest)
        if present and not root:
            return
        content = bytes(row.content)
        if not present:
            parsed = parse_manifest(content, row.media_type)
            for child in parsed.children:
                await self._copy_deeply(source, source_id, child, target, [], root=False)
            await self._blobs.link_from(source, target, list(parsed.blobs))
        scheme = not root and len(tags) == 1 and cosign_subject(tags[0]) is not None
        await self._manifests.put(target, tags[0] if scheme else digest, content, row.media_type,
                                  extra_tags=[] if scheme else tags,
                                  immutable_refusal=lambda _repository, tag: update_refused(tag))
        for accessory in accessories:
            tag = scheme_tags.get(accessory.id)
            await self._copy_deeply(source, source_id, accessory.digest, target, [tag] if tag else [], root=False)

    async def _copy_sizes(self, source_id: int, digest: str, sizes: dict[str, int]) -> None:
        """digest -> size of every manifest and blob a copy of `digest` takes along (what _copy_deeply walks)."""
        if digest in sizes:
            return
        async with self._db.read() as conn:
            row = (await conn.execute(select(Manifest.id, Manifest.size).where(
                Manifest.repository_id == source_id, Manifest.digest == digest))).first()
            if row is None:
                return
            sizes[digest] = row.size
            sizes.update((await conn.execute(select(Blob.digest, Blob.size).join(
                ManifestBlob, ManifestBlob.digest == Blob.digest).where(ManifestBlob.manifest_id == row.id))).all())
            related = [*(await conn.execute(select(ManifestChild.child_digest).where(
                ManifestChild.manifest_id == row.id))).scalars(),
                *(await conn.execute(select(Manifest.digest).where(
                    Manifest.repository_id == source_id, Manifest.subject_digest == digest))).scalars()]
        for other in related:
            await self._copy_sizes(source_id, other, sizes)

    async def _holds(self, repo_id: int, digest: str) -> bool:
        async with self._db.read() as conn:
            return await conn.scalar(select(Manifest.id).where(Manifest.repository_id == repo_id, Manifest.digest == digest)) is not None

    async def tags(
        self, repository: str, reference: str, *, q: str | None = None, sort: str | None = None,
        offset: int = 0, limit: int = 10,
    ) -> tuple[list[TagRecord], int]:
        artifact = await self.get(repository, reference)
        keys = {"name": Tag.name, "push_time": Tag.updated_at, "pull_time": Tag.pull_time, "id": Tag.id}
        query = select(Tag).where(Tag.manifest_id == artifact.id, *conditions(q, keys))
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(
                query.order_by(*orderings(sort, keys, [Tag.updated_at, Tag.id])).offset(offset).limit(limit))).all()
        return [TagRecord(r.id, artifact.repository_id, artifact.id, r.name, r.updated_at, r.pull_time) for r in rows], total

    async def create_tag(self, repository: str, reference: str, name: str) -> None:
        if not is_valid_tag(name or ""):
            raise BadRequest(f"invalid tag name {name[:200]!r}")
        artifact = await self.get(repository, reference)
        now = utcnow()
        try:
            async with self._db.write() as conn:
                if await conn.scalar(select(Tag.id).where(Tag.repository_id == artifact.repository_id, Tag.name == name)):
                    raise Conflict(f"tag {name} already exists in {repository}")
                await conn.execute(self._db.insert(Tag).values(
                    repository_id=artifact.repository_id, name=name, manifest_id=artifact.id, updated_at=now))
                await self._events.record(conn, TagCreated(repository=repository, tag=name, digest=artifact.digest))
        except IntegrityError:
            raise Conflict(f"tag {name} already exists in {repository}") from None
        self._manifests.forget_tag(repository, name)
        self._repositories.tags_changed(artifact.repository_id)

    async def delete_tag(self, repository: str, reference: str, name: str) -> None:
        artifact = await self.get(repository, reference)
        if name not in {tag.name for tag in artifact.tags}:
            raise NotFound(f"tag {name} not found on {repository}@{artifact.digest}")
        if (await self._manifests.immutable_rules(repository)).immutable(repository, name):
            raise delete_refused(name)
        async with self._db.write() as conn:
            await conn.execute(delete(Tag).where(and_(Tag.repository_id == artifact.repository_id, Tag.name == name)))
            await self._events.record(conn, TagDeleted(repository=repository, tag=name, digest=artifact.digest))
        self._manifests.forget_tag(repository, name)
        self._repositories.tags_changed(artifact.repository_id)


class _ReferencedByOthers(PreconditionFailed):
    code = "VIOLATE_FOREIGN_KEY_CONSTRAINT"


def _child_digests(records) -> list[str]:  # type: ignore[no-untyped-def]
    digests: list[str] = []
    for record in records:
        if "manifests" in (doc := record.doc):
            digests += [str(m.get("digest")) for m in doc.get("manifests") or [] if isinstance(m, dict)]
    return digests


def _references(record: ArtifactRecord, child_ids: dict[str, int]) -> list[ReferenceRecord]:
    doc = record.doc
    return [
        ReferenceRecord(record.id, child_ids.get(str(m.get("digest"))), str(m.get("digest")), m.get("platform"),
                        m.get("annotations"), m.get("urls"))
        for m in doc.get("manifests") or [] if isinstance(m, dict)
    ]


def _with_labels(value: object) -> Any:
    """`labels=<id>`, `labels=(id id)` (all of them) or `labels={id id}` (any of them), as Harbor."""
    def has(label_id: object) -> Any:
        if isinstance(label_id, str) and label_id.isdigit():
            label_id = int(label_id)
        if not isinstance(label_id, int):
            raise BadRequest("labels are given by id: labels=<id>, labels=(1 2) or labels={1 2}")
        if not fits(ArtifactLabel.label_id, label_id):
            return false()
        return exists().where(ArtifactLabel.manifest_id == Manifest.id, ArtifactLabel.label_id == label_id)

    if isinstance(value, AllOf):
        return and_(*(has(v) for v in value.values))
    if isinstance(value, AnyOf):
        return or_(*(has(v) for v in value.values)) if value.values else or_(False)  # type: ignore[arg-type]
    return has(value)
