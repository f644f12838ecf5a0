"""Manifests: parsing and validation, storing with tags, reading by tag or digest, deleting, referrers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from sqlalchemy import delete, select, true, update

from berth import mediatypes
from berth.artifact_types import artifact_media_types
from berth.artifact_types import artifact_type as artifact_kind
from berth.db.models import Manifest, ManifestBlob, ManifestChild, Repository, RepositoryBlob, Tag, utcnow
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ArtifactDeleted, ArtifactPushed, TagDeleted
from berth.references import (
    Digest,
    InvalidDigest,
    digest_of,
    is_digest_reference,
    is_manifest_reference,
    is_valid_tag,
    parse_digest,
)
from berth.services.blobs import parse_blob_digest, touch_blobs
from berth.services.cache import LruCache
from berth.services.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    PreconditionFailed,
    TagInvalid,
)
from berth.services.immutability import (
    NO_RULES,
    ImmutabilityService,
    ImmutableRules,
    TagImmutable,
    delete_refused,
    push_refused,
)
from berth.services.paging import Page, fetch_page
from berth.services.quotas import QuotaService
from berth.services.repositories import RepositoryService

#: the most referrers one page of the referrers API lists, and how many it lists without `n`
REFERRERS_PAGE = 1_000


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    digest: str
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    blobs: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    #: Harbor's artifact view (berth.artifact_types): IMAGE, CHART, ...; and the config's media type
    kind: str = "UNKNOWN"
    config_media_type: str = ""
    #: the subject named by a cosign tag (sha256-<hex>.sig/.att/.sbom) when there is no subject field
    accessory_subject: str | None = None


@dataclass(frozen=True, slots=True)
class PutResult:
    digest: str
    subject: str | None
    tags: tuple[str, ...] = field(default_factory=tuple)


def _descriptor(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} is not a descriptor object")
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where} has no digest")
    try:
        parse_digest(digest)
    except InvalidDigest:
        raise ManifestInvalid(f"{where} has an invalid digest: {digest[:200]}") from None
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where} has no valid size")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where} has no mediaType")
    return value


_COSIGN_TAG = re.compile(r"^sha256-([a-f0-9]{64})\.(sig|att|sbom)$")


def cosign_subject(tag: str) -> str | None:
    """The digest a cosign tag (sha256-<hex>.sig, .att, .sbom) is about, else None. Pure."""
    match = _COSIGN_TAG.match(tag)
    return f"sha256:{match.group(1)}" if match else None


def parse_manifest(content: bytes, content_type: str | None) -> ParsedManifest:
    """Validate a manifest's JSON and extract what berth records about it (pure; no I/O)."""
    try:
        doc = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    declared = content_type.split(";", 1)[0].strip().lower() if content_type else ""
    body_type = doc.get("mediaType")
    if doc.get("schemaVersion") == 1 or declared in mediatypes.SCHEMA1 or body_type in mediatypes.SCHEMA1:
        raise ManifestInvalid(
            "Docker schema1 manifests are not supported; push a Docker schema2 or OCI manifest"
        )
    if doc.get("schemaVersion") != 2:
        raise ManifestInvalid("manifest schemaVersion must be 2")
    if body_type is not None and not isinstance(body_type, str):
        raise ManifestInvalid("manifest mediaType must be a string")
    if body_type and declared and declared != body_type and declared not in ("application/json", ""):
        raise ManifestInvalid(
            f"Content-Type {declared} does not match the manifest's mediaType {body_type}"
        )
    media_type = body_type or declared
    if media_type not in mediatypes.MANIFESTS:
        if "manifests" in doc and "layers" not in doc:
            media_type = mediatypes.OCI_INDEX
        elif "config" in doc:
            media_type = mediatypes.OCI_MANIFEST
        else:
            raise ManifestInvalid(f"unsupported manifest media type: {media_type[:200] or '(none)'}")
    if not body_type and declared and declared not in mediatypes.MANIFESTS and declared != "application/json":
        raise ManifestInvalid(f"unsupported manifest media type: {declared[:200]}")

    annotations = doc.get("annotations")
    if annotations is not None and (
        not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values())
    ):
        raise ManifestInvalid("annotations must map strings to strings")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType must be a string")
    subject = None
    if doc.get("subject") is not None:
        subject = _descriptor(doc["subject"], "subject")["digest"]

    if media_type in mediatypes.INDEXES:
        manifests = doc.get("manifests")
        if not isinstance(manifests, list):
            raise ManifestInvalid("an index must have a manifests list")
        children = tuple(
            _descriptor(item, f"manifests[{i}]")["digest"] for i, item in enumerate(manifests)
        )
        harbor_media_type, harbor_artifact_type = artifact_media_types(media_type, doc)
        return ParsedManifest(
            media_type, (), children, subject, artifact_type or None, annotations,
            artifact_kind(harbor_media_type, harbor_artifact_type), harbor_media_type[:255],
        )

    config = _descriptor(doc.get("config"), "config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ManifestInvalid("an image manifest must have a layers list")
    blobs = [config["digest"]]
    for i, layer in enumerate(layers):
        layer = _descriptor(layer, f"layers[{i}]")
        if layer["mediaType"] in mediatypes.NON_DISTRIBUTABLE and layer.get("urls"):
            continue  # foreign layer: its bytes live at its urls
        blobs.append(layer["digest"])
    harbor_media_type, harbor_artifact_type = artifact_media_types(media_type, doc)
    return ParsedManifest(
        media_type,
        tuple(dict.fromkeys(blobs)),
        (),
        subject,
        artifact_type or config["mediaType"],
        annotations,
        artifact_kind(harbor_media_type, harbor_artifact_type),
        harbor_media_type[:255],
    )


class ManifestService:
    def __init__(
        self, db: Database, repositories: RepositoryService, max_bytes: int, cache_ttl: float = 0.0,
        events: EventBus | None = None, quotas: QuotaService | None = None,
    ) -> None:
        self._db = db
        self._events = events or EventBus()
        self._quotas = quotas
        self._repositories = repositories
        self.max_bytes = max_bytes
        #: told of every stored manifest after its commit: (repository, digest, the subject it is an
        #: accessory of, or None); a hook must not raise, nor block (content trust verifies in the background)
        self.pushed_hooks: list[Callable[[str, str, str | None], None]] = []
        #: the tag immutability rules (the registry sets it; None: no tag is immutable)
        self.immutability: ImmutabilityService | None = None
        #: (repository name, tag or digest) -> record; 64 MiB of manifests at most
        self._cache: LruCache[tuple[str, str], ManifestRecord] = LruCache(
            max_entries=50_000, max_weight=64 * 1024 * 1024, weigh=lambda r: len(r.content) + 200, ttl=cache_ttl
        )

    @property
    def caches(self) -> dict[str, LruCache[Any, Any]]:
        return {"manifests": self._cache}

    async def get(self, repository: str, reference: str) -> ManifestRecord:
        key = (repository, reference)
        record = self._cache.get(key)
        if record is not None:
            return record
        version = self._cache.version
        _check_reference(reference)
        repo_id = await self._repositories.require(repository)
        columns = (Manifest.digest, Manifest.media_type, Manifest.content)
        if is_digest_reference(reference):
            digest = parse_blob_digest(reference)
            query = select(*columns).where(Manifest.repository_id == repo_id, Manifest.digest == str(digest))
        else:
            query = (
                select(*columns)
                .join(Tag, Tag.manifest_id == Manifest.id)
                .where(Tag.repository_id == repo_id, Tag.name == reference)
            )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise ManifestUnknown("manifest unknown to registry", {"reference": reference})
        record = ManifestRecord(row.digest, row.media_type, bytes(row.content))
        self._cache.put(key, record, if_version=version)
        return record

    async def put(
        self,
        repository: str,
        reference: str,
        content: bytes,
        content_type: str | None,
        extra_tags: list[str] | None = None,
        immutable_refusal: Callable[[str, str], TagImmutable] = push_refused,
        partial_index: bool = False,
    ) -> PutResult:
        """Store the manifest and point `reference` (a tag) and `extra_tags` at it. A tag that already
        points at another manifest and is immutable is refused with `immutable_refusal(repository, tag)`
        (re-pushing the manifest it points at is fine). `partial_index` (a proxy cache keeping an index
        whose platforms were not all pulled): an index may list manifests the repository lacks."""
        if len(content) > self.max_bytes:
            raise ManifestTooLarge(f"manifest exceeds the {self.max_bytes} byte limit")
        tags = list(extra_tags or [])
        if is_digest_reference(reference):
            expected = parse_blob_digest(reference)
            digest = digest_of(content, expected.algorithm)
            if digest != str(expected):
                raise DigestInvalid(
                    "manifest digest did not match the reference", {"expected": reference, "actual": digest}
                )
        else:
            _check_tag(reference)
            digest = digest_of(content)
            tags.insert(0, reference)
        for tag in tags:
            _check_tag(tag)
        tags = list(dict.fromkeys(tags))
        parsed = parse_manifest(content, content_type)
        if parsed.subject is None and not is_digest_reference(reference):
            # cosign's tag scheme names the subject in the tag: it is an accessory as much as a referrer is
            subject = cosign_subject(reference)
            if subject is not None:
                parsed = replace(parsed, accessory_subject=subject)
        repo_id = await self._repositories.find(self._repositories.validate(repository))
        if repo_id is None:
            # a new repository holds no blobs yet: refuse before creating it
            await self._check_references(None, None, parsed, partial_index=partial_index)
            repo_id = await self._repositories.ensure(repository)
        rules = await self.immutable_rules(repository) if tags else NO_RULES
        now = utcnow()
        async with self._db.write() as conn:
            if self._quotas is not None:
                # the house's lock order: the project's quota row before link and blob rows
                await self._quotas.hold(conn, repo_id)
            await self._check_references(conn, repo_id, parsed, now, partial_index=partial_index)
            manifest_id = await conn.scalar(
                select(Manifest.id).where(Manifest.repository_id == repo_id, Manifest.digest == digest)
            )
            if rules:
                moved = (await conn.execute(select(Tag.name).where(
                    Tag.repository_id == repo_id, Tag.name.in_(tags),
                    Tag.manifest_id != manifest_id if manifest_id is not None else true()))).scalars().all()
                for tag in sorted(moved):
                    if rules.immutable(repository, tag) and cosign_subject(tag) is None:
                        raise immutable_refusal(repository, tag)
            if manifest_id is None:
                if self._quotas is not None:
                    # its blobs are in the repository already (checked above): only the manifest is new
                    await self._quotas.charge(
                        conn, repo_id, {digest: len(content)}, repository=repository, digest=digest)
                manifest_id = await self._insert_manifest(conn, repo_id, digest, content, parsed, now)
            for tag in tags:
                await conn.execute(
                    self._db.insert(Tag)
                    .values(repository_id=repo_id, name=tag, manifest_id=manifest_id, updated_at=now)
                    .on_conflict_do_update(
                        index_elements=[Tag.repository_id, Tag.name],
                        set_={"manifest_id": manifest_id, "updated_at": now},
                    )
                )
            await conn.execute(update(Repository).where(Repository.id == repo_id).values(updated_at=now))
            await self._events.record(conn, ArtifactPushed(repository=repository, digest=digest,
                                                           media_type=parsed.media_type, tags=tuple(tags)))
        for tag in tags:
            self._cache.discard((repository, tag))
        if tags:
            self._repositories.tags_changed(repo_id)
        for hook in self.pushed_hooks:
            hook(repository, digest, parsed.subject or parsed.accessory_subject)
        return PutResult(digest, parsed.subject, tuple(tags))

    async def _insert_manifest(  # type: ignore[no-untyped-def]
        self, conn, repo_id: int, digest: str, content: bytes, parsed: ParsedManifest, now
    ) -> int:
        """Insert the manifest and what it references; the existing row's id if a concurrent push won."""
        manifest_id = await conn.scalar(
            self._db.insert(Manifest)
            .values(
                repository_id=repo_id,
                digest=digest,
                media_type=parsed.media_type,
                artifact_type=parsed.artifact_type,
                size=len(content),
                content=content,
                subject_digest=parsed.subject or parsed.accessory_subject,
                type=parsed.kind,
                config_media_type=parsed.config_media_type,
                annotations=orjson.dumps(parsed.annotations).decode() if parsed.annotations else None,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(Manifest.id)
        )
        if manifest_id is None:
            return await conn.scalar(
                select(Manifest.id).where(Manifest.repository_id == repo_id, Manifest.digest == digest)
            )
        if parsed.blobs:
            gone = await touch_blobs(conn, parsed.blobs, now)
            if gone:
                missing = sorted(gone)
                raise ManifestBlobUnknown(
                    f"manifest references blob unknown to the repository: {missing[0]}", {"digests": missing})
            await conn.execute(
                self._db.insert(ManifestBlob)
                .values([{"manifest_id": manifest_id, "digest": d} for d in parsed.blobs])
                .on_conflict_do_nothing()
            )
        if parsed.children:
            await conn.execute(
                self._db.insert(ManifestChild)
                .values([{"manifest_id": manifest_id, "child_digest": d} for d in set(parsed.children)])
                .on_conflict_do_nothing()
            )
        return manifest_id

    async def _check_references(  # type: ignore[no-untyped-def]
        self, conn, repo_id: int | None, parsed: ParsedManifest, now=None, *, partial_index: bool = False,
    ) -> None:
        """Raise MANIFEST_BLOB_UNKNOWN unless every blob and child is in the repository (None: a new one).
        Inside the push's transaction (`now` given) the links it relies on are locked in digest order
        and touched: the garbage collector removes only links untouched for its grace window, and its
        conditional delete, waiting for these locks, then finds them touched."""
        if parsed.blobs:
            present: set[str] = set()
            if repo_id is not None:
                wanted = sorted(set(parsed.blobs))
                query = select(RepositoryBlob.digest).where(
                    RepositoryBlob.repository_id == repo_id, RepositoryBlob.digest.in_(wanted))
                if now is not None:
                    query = query.order_by(RepositoryBlob.digest).with_for_update(key_share=True)
                present = set((await conn.execute(query)).scalars())
                if now is not None and present:
                    await conn.execute(update(RepositoryBlob).where(
                        RepositoryBlob.repository_id == repo_id, RepositoryBlob.digest.in_(sorted(present))
                    ).values(linked_at=now))
            missing = [d for d in parsed.blobs if d not in present]
            if missing:
                raise ManifestBlobUnknown(
                    f"manifest references blob unknown to the repository: {missing[0]}", {"digests": missing}
                )
        if parsed.children and not partial_index:
            present = set() if repo_id is None else set(
                (
                    await conn.execute(
                        select(Manifest.digest).where(
                            Manifest.repository_id == repo_id, Manifest.digest.in_(set(parsed.children))
                        )
                    )
                ).scalars()
            )
            missing = [d for d in dict.fromkeys(parsed.children) if d not in present]
            if missing:
                raise ManifestBlobUnknown(
                    f"index references manifest unknown to the repository: {missing[0]}", {"digests": missing}
                )

    async def immutable_rules(self, repository: str) -> ImmutableRules:
        return NO_RULES if self.immutability is None else await self.immutability.rules_of_repository(repository)

    async def delete(self, repository: str, reference: str, *, unused_only: bool = False) -> None:
        """Delete a tag (by tag) or a manifest and every tag on it (by digest); an immutable tag is
        refused (Harbor's 412), and so is a manifest that has one. `unused_only` (the garbage
        collector's untagged artifacts): PreconditionFailed if the manifest has a tag or an index of
        the repository lists it, checked under the quota row's lock, which pushes take first."""
        _check_reference(reference)
        repo_id = await self._repositories.require(repository)
        rules = await self.immutable_rules(repository)
        deleted: ArtifactDeleted | None = None
        async with self._db.write() as conn:
            if is_digest_reference(reference):
                digest = parse_blob_digest(reference)
                held = None if self._quotas is None else await self._quotas.hold(conn, repo_id)
                row = (await conn.execute(select(Manifest.id, Manifest.media_type, Manifest.size).where(
                    Manifest.repository_id == repo_id, Manifest.digest == str(digest)))).first()
                if row is not None:
                    tags = (await conn.execute(select(Tag.name).where(Tag.manifest_id == row.id))).scalars().all()
                    if unused_only and (tags or await self._listed_by_index(conn, repo_id, str(digest))):
                        raise PreconditionFailed("the artifact was tagged or listed by an index meanwhile")
                    refuse_immutable_delete(rules, repository, tags)
                    deleted = ArtifactDeleted(repository=repository, digest=str(digest), media_type=row.media_type,
                                              tags=tuple(sorted(tags)))
                result = await conn.execute(
                    delete(Manifest).where(Manifest.repository_id == repo_id, Manifest.digest == str(digest))
                )
                if row is not None and self._quotas is not None:
                    await self._quotas.release(conn, held, str(digest), row.size)  # Harbor refreshes usage
                if deleted is not None and result.rowcount:
                    await self._events.record(conn, deleted)
            else:
                if rules.immutable(repository, reference) and await conn.scalar(select(Tag.id).where(
                        Tag.repository_id == repo_id, Tag.name == reference)) is not None:
                    refuse_immutable_delete(rules, repository, [reference])
                result = await conn.execute(
                    delete(Tag).where(Tag.repository_id == repo_id, Tag.name == reference)
                )
                if result.rowcount:
                    await self._events.record(conn, TagDeleted(repository=repository, tag=reference))
        if is_digest_reference(reference):
            self._cache.discard_where(lambda key: key[0] == repository)
        else:
            self._cache.discard((repository, reference))
        self._repositories.tags_changed(repo_id)
        if result.rowcount == 0:
            raise ManifestUnknown("manifest unknown to registry", {"reference": reference})

    @staticmethod
    async def _listed_by_index(conn, repo_id: int, digest: str) -> bool:  # type: ignore[no-untyped-def]
        return await conn.scalar(
            select(ManifestChild.manifest_id).join(Manifest, Manifest.id == ManifestChild.manifest_id)
            .where(Manifest.repository_id == repo_id, ManifestChild.child_digest == digest).limit(1)) is not None

    def forget_tag(self, repository: str, tag: str) -> None:
        """A tag moved or went away through another service (the artifacts API)."""
        self._cache.discard((repository, tag))

    def forget_repository(self, repository: str) -> None:
        self._cache.discard_where(lambda key: key[0] == repository)

    async def referrers(
        self, repository: str, subject: Digest, artifact_type: str | None,
        n: int | None = None, last: str | None = None,
    ) -> Page[dict[str, Any]]:
        """A page of descriptors of the manifests in `repository` whose subject is `subject`, in digest order
        after `last`: `n` of them, REFERRERS_PAGE without `n`, never more (keyset on the
        (repository, subject, digest) index, so a page reads only its own rows)."""
        repo_id = await self._repositories.find(self._repositories.validate(repository))
        if repo_id is None:
            return Page([], None)
        page = await fetch_page(
            self._db, self.referrers_query(repo_id, subject, artifact_type, last), n, limit=REFERRERS_PAGE,
            cursor=lambda row: row.digest, scalars=False,
        )
        return Page([_referrer_descriptor(row) for row in page.items], page.next_last)

    @staticmethod
    def referrers_query(  # type: ignore[no-untyped-def]
        repo_id: int, subject: Digest, artifact_type: str | None, last: str | None,
    ):
        """The referrers after `last` in digest order (a test checks that it walks the index, unsorted)."""
        query = select(
            Manifest.digest, Manifest.media_type, Manifest.size, Manifest.artifact_type, Manifest.annotations
        ).where(Manifest.repository_id == repo_id, Manifest.subject_digest == str(subject))
        if artifact_type:
            query = query.where(Manifest.artifact_type == artifact_type)
        if last:
            query = query.where(Manifest.digest > last)
        return query.order_by(Manifest.digest)


def refuse_immutable_delete(rules: ImmutableRules, repository: str, tags: Iterable[str]) -> None:
    """Raise Harbor's 412 for the first immutable tag of `tags` (cosign's tag-scheme accessory tags aside:
    they go with their subject)."""
    for tag in sorted(rules.immutable_tags(repository, tags)):
        if cosign_subject(tag) is None:
            raise delete_refused(tag)


def _referrer_descriptor(row: Any) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"mediaType": row.media_type, "digest": row.digest, "size": row.size}
    if row.artifact_type:
        descriptor["artifactType"] = row.artifact_type
    if row.annotations:
        descriptor["annotations"] = orjson.loads(row.annotations)
    return descriptor


def _check_reference(reference: str) -> None:
    """A GET, HEAD or DELETE of what is neither a tag nor a digest finds nothing (404, as distribution)."""
    if not is_manifest_reference(reference):
        raise ManifestUnknown("manifest unknown to registry: not a tag nor a digest", {"reference": reference[:200]})


def _check_tag(tag: str) -> None:
    if not is_valid_tag(tag):
        raise TagInvalid(f"invalid tag: {tag[:200]!r}", {"tag": tag[:200]})
