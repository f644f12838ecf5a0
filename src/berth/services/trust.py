"""Content trust in the registry: each project's trust policy (stored, versioned), the verdicts on its
images' signatures (kept by image digest, signature digest and policy version), and the decision the
manifest GET/HEAD check asks for (berth.sign.enforce decides; berth.sign.verify verifies).

The hot path: a project without a policy or Harbor's switches costs one cached lookup; otherwise the
decision for (repository, digest, policy version) is cached. Once warm a pull never waits on the
database: an entry past POLICY_CACHE_SECONDS is answered while one background read refreshes it
(ReadThrough), so other nodes' changes arrive within that and one refresh; what this process changes (a
policy, project metadata, a pushed signature, a verdict) it forgets at once. Verification is CPU work
on small blobs read first: it runs in a thread, once per (image, signature, policy version), when a
signature is pushed or when a pull needs a verdict the current policy has not given yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from berth.db.models import (
    Manifest,
    ProjectMetadata,
    Repository,
    SignatureVerdict,
    Tag,
    TrustPolicyRow,
    utcnow,
)
from berth.db.session import Database
from berth.events.bus import EventBus
from berth.events.types import ContentTrustAudit, ResourceChanged
from berth.references import InvalidDigest, parse_digest
from berth.services.artifacts import ArtifactRecord, accessory_type
from berth.services.blobs import BlobService
from berth.services.cache import LruCache, ReadThrough
from berth.services.manifests import cosign_subject
from berth.services.projects import ProjectService
from berth.sign.enforce import ALLOW, OFF, Decision, Requirement, decide, requirement
from berth.sign.model import Format, SignatureArtifact, Subject, Verdict
from berth.sign.policy import TrustPolicy
from berth.sign.verify import verify

log = structlog.get_logger("berth.trust")

#: how long this process trusts what it read (another node may have changed it meanwhile)
POLICY_CACHE_SECONDS = 5.0
#: a pull audit mode lets through is told (audit row, webhook) at most once per (digest, policy
#: version) in this window, so a busy pull loop does not flood either
AUDIT_WINDOW_SECONDS = 3600.0
#: the largest blob of a signature artifact read for verification (payloads, envelopes, bundles)
MAX_SIGNATURE_BLOB = 1 << 20
#: the most blobs of one signature artifact read, and the most signatures of one image verified
MAX_SIGNATURE_BLOBS = 16
MAX_SIGNATURES = 64
_SIGNATURE = "signature."
_SWITCHES = ("enable_content_trust", "enable_content_trust_cosign")
_FORMATS = {f.value: f for f in Format}


@dataclass(frozen=True, slots=True)
class _SignatureRow:
    digest: str
    content: bytes
    tag: str | None


@dataclass(frozen=True, slots=True)
class Signatures:
    """What berth shows of an artifact's signatures: the verdicts under the policy in force (by
    signature digest), and whether it counts as signed."""

    verdicts: dict[str, Verdict]
    signed: bool


class TrustService:
    def __init__(self, db: Database, projects: ProjectService, blobs: BlobService, events: EventBus,
                 ttl: float = POLICY_CACHE_SECONDS) -> None:
        self._db = db
        self._projects = projects
        self._blobs = blobs
        self._events = events
        #: project id -> (its requirement, its policy or None)
        self._requirements: LruCache[int, tuple[Requirement, TrustPolicy | None]] = LruCache(20_000, ttl=ttl)
        #: policy version -> parsed policy (content-addressed: never stale; keeps parsed keys)
        self._policies: LruCache[str, TrustPolicy] = LruCache(1_000)
        #: (repository, digest, policy version or "" for Harbor's switches) -> decision
        self._decisions: LruCache[tuple[str, str, str], Decision] = LruCache(100_000, ttl=ttl)
        self._audited: LruCache[tuple[str, str], bool] = LruCache(100_000, ttl=AUDIT_WINDOW_SECONDS)
        self._requirements_read = ReadThrough(self._requirements)
        self._decisions_read = ReadThrough(self._decisions)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def caches(self) -> dict[str, LruCache[Any, Any]]:
        return {"trust_requirements": self._requirements, "trust_decisions": self._decisions}

    # --- the policy ---------------------------------------------------------------------------------

    async def policy(self, project_id: int) -> TrustPolicy | None:
        """The project's stored policy, None without one."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(TrustPolicyRow.policy, TrustPolicyRow.version)
                                      .where(TrustPolicyRow.project_id == project_id))).first()
        return None if row is None else self._parsed(row.policy, row.version)

    async def put_policy(self, project_id: int, project_name: str, policy: TrustPolicy) -> None:
        """Store (replace) the project's policy; an audit row tells of it."""
        body, version, now = orjson.dumps(policy.model_dump(mode="json")).decode(), policy.version, utcnow()
        async with self._db.write() as conn:
            await conn.execute(
                self._db.insert(TrustPolicyRow)
                .values(project_id=project_id, policy=body, version=version, updated_at=now)
                .on_conflict_do_update(index_elements=[TrustPolicyRow.project_id],
                                       set_={"policy": body, "version": version, "updated_at": now}))
            await self._events.record(conn, ResourceChanged(
                resource_type="trust_policy", operation="update", resource=project_name, project=project_name,
                description=f"update trust policy of project {project_name}: mode {policy.mode}, version {version}"))
        self._policies.put(version, policy)
        self.forget_projects()

    def _parsed(self, body: str, version: str) -> TrustPolicy | None:
        cached = self._policies.get(version)
        if cached is not None:
            return cached
        try:
            policy = TrustPolicy.model_validate_json(body)
        except ValueError:  # stored by a berth whose policy model differed: treated as no policy, logged
            log.error("a stored trust policy does not parse", version=version)
            return None
        self._policies.put(version, policy)
        return policy

    async def requirement(self, project_id: int) -> tuple[Requirement, TrustPolicy | None]:
        """What the project asks of pulled manifests, with its policy (cached)."""
        return await self._requirements_read.get(project_id, lambda: self._load_requirement(project_id))

    async def _load_requirement(self, project_id: int) -> tuple[Requirement, TrustPolicy | None]:
        async with self._db.read() as conn:
            switches = dict((await conn.execute(
                select(ProjectMetadata.name, ProjectMetadata.value).where(
                    ProjectMetadata.project_id == project_id, ProjectMetadata.name.in_(_SWITCHES))
            )).all())
            row = (await conn.execute(select(TrustPolicyRow.policy, TrustPolicyRow.version)
                                      .where(TrustPolicyRow.project_id == project_id))).first()
        policy = None if row is None else self._parsed(row.policy, row.version)
        required = requirement(
            policy.mode if policy else None, policy.formats if policy else (), policy.version if policy else "",
            _on(switches.get("enable_content_trust_cosign")), _on(switches.get("enable_content_trust")))
        return required, policy

    # --- the pull check -----------------------------------------------------------------------------

    async def decision(self, project_id: int, repository: str, digest: str) -> Decision:
        """May `digest` in `repository` be pulled as far as signatures go? (Who bypasses the check is
        the caller's question.) Audit mode's would-be refusals are told here, once per window."""
        required, policy = await self.requirement(project_id)
        if required is OFF or required.mode == "off":
            return ALLOW
        decision = await self._decisions_read.get(
            (repository, digest, required.version), lambda: self._decide(required, policy, repository, digest))
        if decision.audited and self._audited.get((digest, required.version)) is None:
            self._audited.put((digest, required.version), True)
            self._spawn(self._events.record_alone(self._db, ContentTrustAudit(
                repository=repository, digest=digest, reason=decision.message, policy_version=required.version)))
        return decision

    async def _decide(self, required: Requirement, policy: TrustPolicy | None, repository: str,
                      digest: str) -> Decision:
        async with self._db.read() as conn:
            image = await _manifest(conn, repository, digest)
            if image is None:  # deleted meanwhile: the manifest handler answers for it
                return ALLOW
            if image.subject_digest and _is_signature(image.artifact_type, bytes(image.content)):
                return ALLOW  # signatures stay pullable (Harbor's bypass for accessories)
            signatures, types = await _accessories(conn, image.repository_id, digest)
        verdicts: list[Verdict] = []
        if required.verifies and policy is not None and signatures:
            subject = Subject(digest, image.size, image.media_type)
            verdicts = list((await self._verdicts(policy, subject, signatures)).values())
        return decide(required, types, verdicts)

    # --- verdicts -----------------------------------------------------------------------------------

    async def verdicts_of(self, project_id: int, repository: str, digest: str,
                          ) -> tuple[Requirement, dict[str, Verdict]]:
        """The requirement in force and the verdicts on the signatures of `digest` under it, by signature
        digest (none when the project verifies nothing)."""
        required, policy = await self.requirement(project_id)
        if not required.verifies or policy is None:
            return required, {}
        async with self._db.read() as conn:
            image = await _manifest(conn, repository, digest)
            if image is None:
                return required, {}
            signatures, _ = await _accessories(conn, image.repository_id, digest)
        if not signatures:
            return required, {}
        return required, await self._verdicts(policy, Subject(digest, image.size, image.media_type), signatures)

    async def signatures(self, artifacts: Iterable[ArtifactRecord]) -> dict[str, Signatures]:
        """By artifact digest, for those with a signature accessory: the verdicts on their signatures
        and whether they count as signed (a verified signature when the project verifies; any
        signature when it does not)."""
        out = {}
        for artifact in artifacts:
            if artifact.project_id is None or not any(a.type.startswith(_SIGNATURE) for a in artifact.accessories):
                continue
            required, verdicts = await self.verdicts_of(artifact.project_id, artifact.repository_name, artifact.digest)
            counted = [v for v in verdicts.values() if v.format.family in required.families]
            signed = any(v.verified and not v.attestation for v in counted) if required.verifies else True
            out[artifact.digest] = Signatures(verdicts, signed)
        return out

    async def _verdicts(self, policy: TrustPolicy, subject: Subject, signatures: list[_SignatureRow],
                        ) -> dict[str, Verdict]:
        """Stored verdicts under the policy's version; the missing ones computed (in a thread) and stored."""
        version = policy.version
        async with self._db.read() as conn:
            stored = {row.signature_digest: _verdict(row) for row in await conn.execute(
                select(SignatureVerdict).where(
                    SignatureVerdict.image_digest == subject.digest, SignatureVerdict.policy_version == version,
                    SignatureVerdict.signature_digest.in_([s.digest for s in signatures])))}
        missing = [s for s in signatures if s.digest not in stored]
        if not missing:
            return stored
        artifacts = [await self._artifact(s) for s in missing]
        computed = await asyncio.to_thread(_verify_each, subject, artifacts, policy, datetime.now(UTC))
        if computed:
            await self._store(subject.digest, version, computed)
        return {**stored, **computed}

    async def _artifact(self, row: _SignatureRow) -> SignatureArtifact:
        """The signature as verification takes it: its parsed manifest and its small blobs, read first."""
        try:
            manifest = orjson.loads(row.content)
        except orjson.JSONDecodeError:
            manifest = {}
        manifest = manifest if isinstance(manifest, dict) else {}
        blobs: dict[str, bytes] = {}
        for descriptor in _descriptors(manifest)[:MAX_SIGNATURE_BLOBS]:
            digest, size = descriptor.get("digest"), descriptor.get("size")
            if not isinstance(digest, str) or digest in blobs or not isinstance(size, int) or size < 0:
                continue
            if size > MAX_SIGNATURE_BLOB:
                continue
            data = await self._read_blob(digest)
            if data is not None:
                blobs[digest] = data

        def read_blob(digest: str, limit: int) -> bytes:
            data = blobs.get(digest)
            if data is None:
                raise ValueError(f"blob {digest[:80]} is not available (missing, or over {MAX_SIGNATURE_BLOB} bytes)")
            if len(data) > limit:
                raise ValueError(f"blob {digest[:80]} is over {limit} bytes")
            return data

        return SignatureArtifact(row.digest, manifest, read_blob, row.tag)

    async def _read_blob(self, text: str) -> bytes | None:
        try:
            digest = parse_digest(text)
        except (InvalidDigest, ValueError):
            return None
        data = bytearray()
        try:
            async for chunk in self._blobs.read(digest):
                data += chunk
                if len(data) > MAX_SIGNATURE_BLOB:
                    return None
        except FileNotFoundError:
            return None
        return bytes(data)

    async def _store(self, image_digest: str, version: str, verdicts: dict[str, Verdict]) -> None:
        try:
            async with self._db.write() as conn:
                await conn.execute(self._db.insert(SignatureVerdict).values([{
                    "image_digest": image_digest, "signature_digest": signature, "policy_version": version,
                    "verified": v.verified, "format": v.format.value, "reason": v.reason[:4000],
                    "signer": v.signer[:4000], "signed_at": v.signed_at, "attestation": v.attestation,
                    "created_at": utcnow(),
                } for signature, v in verdicts.items()]).on_conflict_do_nothing())
        except DBAPIError:  # computed again next time: a verdict is a cache of a pure function
            log.warning("storing signature verdicts failed", image=image_digest, count=len(verdicts))

    # --- what pushes and changes tell ---------------------------------------------------------------

    def manifest_pushed(self, repository: str, digest: str, subject: str | None) -> None:
        """A manifest PUT: a signature (a referrer, or cosign's tag scheme) is verified now, in the
        background; the decision on its subject is forgotten."""
        if subject is None:
            return
        self.forget_digest(subject)
        self._spawn(self._verify_pushed(repository, digest, subject))

    async def _verify_pushed(self, repository: str, digest: str, subject: str) -> None:
        project = await self._projects.ref(repository.partition("/")[0])
        if project is None:
            return
        required, policy = await self.requirement(project.id)
        if not required.verifies or policy is None:
            return
        async with self._db.read() as conn:
            image = await _manifest(conn, repository, subject)
            if image is None:  # the subject comes later: its first pull verifies
                return
            signatures, _ = await _accessories(conn, image.repository_id, subject, only=digest)
        if signatures:
            await self._verdicts(policy, Subject(subject, image.size, image.media_type), signatures)
            self.forget_digest(subject)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(_logged(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drained(self) -> None:
        """Wait for the background verifications and audit records started so far (tests, shutdown)."""
        while pending := [*self._tasks, *self._requirements_read.loading, *self._decisions_read.loading]:
            await asyncio.gather(*pending, return_exceptions=True)

    def forget_projects(self) -> None:
        self._requirements.clear()
        self._decisions.clear()

    def forget_digest(self, digest: str) -> None:
        self._decisions.discard_where(lambda key: key[1] == digest)


async def _logged(work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except Exception:  # background work: a push or pull has been answered already
        log.exception("content trust background work failed")


def _on(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def _is_signature(artifact_type: str | None, content: bytes) -> bool:
    try:
        return accessory_type(artifact_type, content).startswith(_SIGNATURE)
    except orjson.JSONDecodeError:
        return False


def _descriptors(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    layers = manifest.get("layers")
    found = [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []
    config = manifest.get("config")
    return found + ([config] if isinstance(config, dict) else [])


async def _manifest(conn: Any, repository: str, digest: str) -> Any:
    """The row of `digest` in `repository` (what a decision needs of it), None when it is not there."""
    return (await conn.execute(
        select(Manifest.repository_id, Manifest.media_type, Manifest.size, Manifest.artifact_type,
               Manifest.subject_digest, Manifest.content)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(Repository.name == repository, Manifest.digest == digest))).first()


async def _accessories(conn: Any, repository_id: int, digest: str, only: str | None = None,
                       ) -> tuple[list[_SignatureRow], list[str]]:
    """The signature accessories of `digest` in the repository (with their cosign tag, if any) and the
    accessory types of all its accessories."""
    query = select(Manifest.id, Manifest.digest, Manifest.artifact_type, Manifest.content).where(
        Manifest.repository_id == repository_id, Manifest.subject_digest == digest)
    if only is not None:
        query = query.where(Manifest.digest == only)
    rows = (await conn.execute(query.order_by(Manifest.digest).limit(1_000))).all()
    types, signatures = [], []
    for row in rows:
        content = bytes(row.content)
        kind = accessory_type(row.artifact_type, content) if _is_signature(row.artifact_type, content) else ""
        types.append(kind or "subject.accessory")
        if kind.startswith(_SIGNATURE) and len(signatures) < MAX_SIGNATURES:
            signatures.append((row.id, row.digest, content))
    tags: dict[int, str] = {}
    if signatures:
        for manifest_id, name in await conn.execute(
            select(Tag.manifest_id, Tag.name).where(Tag.manifest_id.in_([s[0] for s in signatures]))
        ):
            if cosign_subject(name) == digest:
                tags[manifest_id] = name
    return [_SignatureRow(d, c, tags.get(i)) for i, d, c in signatures], types


def _verify_each(subject: Subject, artifacts: list[SignatureArtifact], policy: TrustPolicy,
                 now: datetime) -> dict[str, Verdict]:
    """The verdicts of the artifacts a policy counts (blocking: run in a thread). An artifact whose
    verification breaks is left without a verdict (tried again next time), never a failed pull or push."""
    out = {}
    for artifact in artifacts:
        try:
            verdict = verify(subject, artifact, policy, now)
        except Exception:
            log.exception("signature verification failed unexpectedly", signature=artifact.digest)
            continue
        if verdict is not None:
            out[artifact.digest] = verdict
    return out


def _verdict(row: Any) -> Verdict:
    signed_at = row.signed_at
    if signed_at is not None and signed_at.tzinfo is None:
        signed_at = signed_at.replace(tzinfo=UTC)  # SQLite hands back naive datetimes; berth stores UTC
    return Verdict(verified=row.verified, format=_FORMATS.get(row.format, Format.COSIGN), reason=row.reason,
                   signer=row.signer, signed_at=signed_at, attestation=row.attestation)
