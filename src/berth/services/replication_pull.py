"""Pull-based replication (a policy with `src_registry`): a registry endpoint's artifacts copied into
this berth through its own services, as a `docker push` stores them.

REPLICATION_LAUNCH lists the source's repositories (name filter) and their artifacts (tag, label and
resource filters; an untagged one, copied by digest, as Harbor's tag filter takes it) through the endpoint's adapter, creates the destination projects that are
missing (public when the source project is, as Harbor's PrepareForPush), and adds one REPLICATION task
per artifact. The task fetches the manifest (children first for an index), each blob berth does not
have (streamed into an upload that verifies size and digest before anything is linked), stores the
manifest and its tags through the manifest service (quotas, immutability, events, scan-on-push), then
the artifact's accessories: cosign tags and referrers (the referrers API, or its tag schema).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
import orjson

from berth import mediatypes
from berth.db.session import Database
from berth.jobs.kinds import JobContext, JobFailed, JobFatal
from berth.jobs.store import JobStore
from berth.references import InvalidDigest, parse_digest
from berth.replication import ATTEMPTS, REPLICATION
from berth.replication.adapters import HarborAdapter, PingFailed, RemoteArtifact
from berth.replication.policy import Policy, PolicyInvalid, destination_projects, pull_target
from berth.replication.pull import PullClient, PullFailed, RemoteManifest
from berth.services.blobs import BlobService
from berth.services.errors import (
    BlobUnknown,
    Conflict,
    DigestInvalid,
    ManifestUnknown,
    NameUnknown,
    NotFound,
    RegistryError,
    ServiceError,
    SizeInvalid,
)
from berth.services.manifests import ManifestService, parse_manifest
from berth.services.projects import ProjectService
from berth.services.registries import RegistryService
from berth.services.uploads import UploadService
from berth.services.users import ADMIN_ID


@dataclass(slots=True)
class _Pulled:
    """What one task fetched and found here already."""

    blobs: int = 0
    had: int = 0
    manifests: int = 0
    done: set[str] = field(default_factory=set)
    #: manifests fetched, by digest (a tag's second look does not fetch again)
    fetched: dict[str, RemoteManifest] = field(default_factory=dict)


class PullReplication:
    def __init__(
        self, db: Database, jobs: JobStore, registries: RegistryService, projects: ProjectService,
        manifests: ManifestService, blobs: BlobService, uploads: UploadService, chunk_size: int,
    ) -> None:
        self._db = db
        self._jobs = jobs
        self._registries = registries
        self._projects = projects
        self._manifests = manifests
        self._blobs = blobs
        self._uploads = uploads
        self._chunk_size = chunk_size

    async def check(self, policy: Policy) -> None:
        """Refuse (400) filters the source does not advertise in its /registries/{id}/info: a label
        filter on a plain registry, a resource type it does not list."""
        try:
            registry = await self._registries.get(policy.src_registry_id)
        except NotFound:
            raise PolicyInvalid(f"registry {policy.src_registry_id} not found") from None
        async with self._registries.adapter(registry) as adapter:
            offered = {f.type: f for f in adapter.info().filters}
        for wanted in policy.filters:
            style = offered.get(wanted.type)
            if style is None:
                raise PolicyInvalid(f"the {registry.type} registry {registry.name} does not support {wanted.type} "
                                    "filters (see /registries/{id}/info)")
            if wanted.type == "resource" and wanted.value not in style.values:
                raise PolicyInvalid(f"the {registry.type} registry {registry.name} offers the resource types "
                                    f"{', '.join(style.values)}, not {wanted.value}")

    # --- REPLICATION_LAUNCH ---------------------------------------------------------------------------

    async def launch(self, ctx: JobContext, policy_id: int, policy: Policy) -> str:
        try:
            registry = await self._registries.get(policy.src_registry_id)
        except NotFound:
            raise JobFatal(f"the source registry {policy.src_registry_id} no longer exists") from None
        selected: list[tuple[str, RemoteArtifact]] = []
        public: dict[str, bool] = {}
        try:
            async with self._registries.adapter(registry) as adapter:
                named = policy.named_repositories
                listed = _listed(named) if named is not None else adapter.repositories(policy.name_pattern)
                async for repository in listed:
                    if not policy.takes_repository(repository):
                        continue
                    for artifact in await adapter.artifacts(repository, with_kind=policy.wants_kind):
                        taken = policy.selected_tags(artifact.tags)
                        tags = sorted(taken or ())
                        if taken is not None and policy.takes_labels(set(artifact.labels)) \
                                and policy.takes_kind(artifact.kind):
                            selected.append((repository, RemoteArtifact(
                                artifact.digest, tuple(tags), artifact.labels, artifact.kind, artifact.accessory_tags)))
                    project = repository.split("/", 1)[0]
                    if isinstance(adapter, HarborAdapter) and project not in public:
                        public[project] = await adapter.project_public(project)
        except PingFailed as exc:
            ctx.log(f"listing {registry.url} failed: {exc.reason}")
            raise JobFailed(f"listing the source failed: {exc.reason}") from None
        ctx.log(f"policy {policy.name}: {len(selected)} artifact(s) selected on {registry.url}")
        problems, targets = 0, {}
        for repository, artifact in selected:
            try:
                targets[(repository, artifact.digest)] = pull_target(
                    repository, policy.dest_namespace, policy.dest_namespace_replace_count)
            except PolicyInvalid as exc:
                ctx.log(f"{repository}@{artifact.digest}: {exc}")
                problems += 1
        skipped = await self._prepare_projects(ctx, targets, public)
        queued = 0
        async with self._db.write() as conn:
            for repository, artifact in selected:
                target = targets.get((repository, artifact.digest))
                if target is None or target.split("/", 1)[0] in skipped:
                    continue
                tags = ",".join(artifact.tags)
                await self._jobs.create_task(conn, ctx.execution_id, REPLICATION, {
                    "policy_id": policy_id, "source_registry_id": policy.src_registry_id, "repository": repository,
                    "digest": artifact.digest, "tags": list(artifact.tags),
                    "accessory_tags": list(artifact.accessory_tags), "target": target, "override": policy.override,
                    "speed": policy.speed, "chunk": policy.copy_by_chunk,
                }, max_attempts=ATTEMPTS, extra_attrs={
                    "src_resource": f"{repository}:[{tags}]", "dst_resource": f"{target}:[{tags}]"})
                queued += 1
        self._jobs.notify()
        if problems:
            raise JobFatal(f"{problems} artifact(s) cannot be placed here (see the log)")
        return f"{queued} artifact(s) queued"

    async def _prepare_projects(
        self, ctx: JobContext, targets: dict[tuple[str, str], str], public: dict[str, bool],
    ) -> set[str]:
        """Harbor's PrepareForPush: create the destination projects that are missing (public when
        every source project landing there is); returns the projects nothing is replicated into: proxy
        caches (as Harbor skips them) and names that cannot be a project."""
        wanted = destination_projects(((repository, target) for (repository, _), target in targets.items()), public)
        skipped = set()
        for project, is_public in wanted.items():
            try:
                record = await self._projects.get(project, by_name=True)
            except NotFound:
                try:
                    await self._projects.create(project, ADMIN_ID, metadata={"public": str(is_public).lower()})
                    ctx.log(f"project {project} created ({'public' if is_public else 'private'})")
                except Conflict:  # a concurrent run created it
                    pass
                except ServiceError as exc:  # a name berth does not take for a project
                    ctx.log(f"project {project} cannot be created: {exc}; nothing is replicated into it")
                    skipped.add(project)
                continue
            if record.registry_id:
                ctx.log(f"project {project} is a proxy cache: nothing is replicated into it")
                skipped.add(project)
        return skipped

    # --- REPLICATION (one artifact) -----------------------------------------------------------------

    async def copy(self, ctx: JobContext) -> str:
        try:
            p = ctx.parameters
            repository, digest, target = str(p["repository"]), str(p["digest"]), str(p["target"])
            tags, accessory_tags = [str(t) for t in p["tags"]], [str(t) for t in p.get("accessory_tags") or []]
            override, speed, chunk = bool(p["override"]), int(p["speed"]), bool(p.get("chunk"))
            registry = await self._registries.get(int(p["source_registry_id"]))
        except (KeyError, TypeError, ValueError, NotFound) as exc:
            raise JobFatal(f"cannot run: {exc}") from None
        ctx.log(f"copying {registry.url}/{repository}@{digest} to {target}")
        pulled = _Pulled()
        try:
            async with PullClient(self._registries.endpoint(registry), speed,
                                  self._chunk_size if chunk else 0) as client:
                if not tags:  # an untagged artifact: by digest
                    await self._copy_manifest(ctx, client, repository, digest, target, pulled)
                    ctx.log(f"untagged {digest} copied by digest")
                for tag in tags:
                    existing = await self._local_digest(target, tag)
                    if existing and existing != digest and not override:
                        ctx.log(f"tag {tag}: berth has {existing} and override is off, skipped")
                        continue
                    manifest = await self._copy_manifest(ctx, client, repository, digest, target, pulled)
                    await self._manifests.put(target, tag, manifest.content, manifest.media_type)
                    ctx.log(f"tag {tag} -> {digest}")
                for tag in accessory_tags:
                    accessory = await client.manifest(repository, tag)
                    await self._copy_manifest(ctx, client, repository, accessory.digest, target, pulled)
                    await self._manifests.put(target, tag, accessory.content, accessory.media_type)
                    ctx.log(f"accessory {tag} copied")
                for referrer in await client.referrers(repository, digest):
                    await self._copy_manifest(ctx, client, repository, referrer, target, pulled)
                    ctx.log(f"accessory {referrer} copied")
        except PullFailed as exc:
            ctx.log(f"failed: {exc}")
            raise JobFailed(str(exc)) from None
        except (RegistryError, ServiceError) as exc:  # quota, immutability, a manifest berth cannot take
            ctx.log(f"failed: {exc}")
            raise JobFatal(str(exc)) from None
        ctx.log(f"done: {pulled.blobs} blob(s) fetched, {pulled.had} berth had, {pulled.manifests} manifest(s)"
                + (f", {client.ranges} range request(s)" if client.ranges else ""))
        return f"{pulled.blobs} blobs fetched, {pulled.had} skipped"

    async def _local_digest(self, repository: str, tag: str) -> str | None:
        try:
            return (await self._manifests.get(repository, tag)).digest
        except (ManifestUnknown, NameUnknown):
            return None

    async def _copy_manifest(
        self, ctx: JobContext, client: PullClient, repository: str, digest: str, target: str, pulled: _Pulled,
    ) -> RemoteManifest:
        """Fetch the manifest by digest and store it after its children (an index) or blobs (an image)."""
        manifest = pulled.fetched.get(digest) or await client.manifest(repository, digest)
        pulled.fetched[digest] = manifest
        if digest in pulled.done:
            return manifest
        parsed = parse_manifest(manifest.content, manifest.media_type)
        for child in parsed.children:
            await self._copy_manifest(ctx, client, repository, child, target, pulled)
        sizes = _blob_sizes(manifest.content)
        for blob in parsed.blobs:
            await self._copy_blob(ctx, client, repository, target, blob, sizes[blob], pulled)
        await self._manifests.put(target, digest, manifest.content, manifest.media_type)
        pulled.manifests += 1
        pulled.done.add(digest)
        return manifest

    async def _copy_blob(
        self, ctx: JobContext, client: PullClient, repository: str, target: str, digest: str, size: int,
        pulled: _Pulled,
    ) -> None:
        if digest in pulled.done:
            return
        try:
            parsed = parse_digest(digest)
        except InvalidDigest:
            raise PullFailed(f"the source's manifest names an invalid blob digest {digest[:100]!r}") from None
        try:
            await self._blobs.stat(target, parsed)
            pulled.had += 1
            ctx.log(f"blob {digest}: {target} has it, skipped")
        except BlobUnknown:
            if await self._blobs.link_stored(target, parsed) is not None:
                pulled.had += 1
                ctx.log(f"blob {digest}: berth has it, linked without fetching")
            else:
                try:
                    await self._uploads.monolithic(target, parsed, client.blob(repository, digest, size), size)
                except (DigestInvalid, SizeInvalid) as exc:
                    raise PullFailed(f"blob {digest}: the source sent content that does not match its descriptor "
                                     f"({exc.message}); the blob is not stored") from None
                except PullFailed as exc:
                    raise PullFailed(f"{exc}; the blob is not stored") from None
                pulled.blobs += 1
                ctx.log(f"blob {digest}: fetched ({size} bytes)")
        pulled.done.add(digest)


async def _listed(names: list[str]) -> AsyncIterator[str]:
    for name in names:
        yield name


def _blob_sizes(content: bytes) -> dict[str, int]:
    """digest -> size of an image manifest's config and layers (parse_manifest validated them)."""
    doc = orjson.loads(content)
    descriptors = ([doc["config"]] if isinstance(doc.get("config"), dict) else []) + list(doc.get("layers") or [])
    return {str(d["digest"]): int(d["size"]) for d in descriptors
            if not (d.get("mediaType") in mediatypes.NON_DISTRIBUTABLE and d.get("urls"))}
