"""Proxy-cache projects (Harbor's repoproxy): a pull that misses locally is fetched from the project's
upstream registry, streamed to the client while it is stored, and served locally from then on.

- A manifest by tag is revalidated with a HEAD upstream on every pull (or once per
  `proxy_revalidate_seconds`); when the upstream is unreachable, errors or rate-limits (429) the
  cached copy is served, and counted.
- A blob is copied from upstream into a spool (a temp file of the store) on a worker thread (read,
  hash, write), and every pull of it follows the spool, the server sending from the file itself;
  concurrent pulls of a blob in a project share one fetch. The clients get the last bytes (storage.filesystem's
  SPOOL_HOLD) only once the digest is verified, so a truncated or wrong upstream blob is neither
  stored nor ever served whole; the spool is synced, the blob recorded and renamed into place after
  the clients have their bytes. A store without local files (object stores) relays the chunks
  through the event loop into an upload instead, the last chunk sent once the blob is stored.
- A manifest whose blobs are not all here yet waits in memory (`_pending`) and is stored as soon as the
  client's blob pulls bring the last of them; an index is stored at once (with the platforms pulled).
- Referrers are asked of the upstream when the project's `proxy_referrer_api` is on, the answer
  remembered for when the upstream fails; otherwise the local listing answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import structlog
from anyio import to_thread

from berth.proxy.names import filter_problem, upstream_repository
from berth.proxy.upstream import (
    TooManyUpstreamRequests, UpstreamClient, UpstreamInvalid, UpstreamManifest, UpstreamNotFound,
    UpstreamReferrers, UpstreamUnavailable,
)
from berth.references import is_digest_reference
from berth.services.blobs import BlobService
from berth.services.errors import (
    BlobUnknown, ManifestBlobUnknown, ManifestUnknown, NameUnknown, NotFound, RegistryError, TooManyRequests,
)
from berth.services.manifests import ManifestRecord, ManifestService
from berth.services.projects import ProjectService
from berth.services.pulls import PullRecorder
from berth.services.registries import RegistryService
from berth.services.uploads import UploadService
from berth.storage.base import Spool
from berth.storage.paths import Digest

log = structlog.get_logger("berth.proxy")

#: the registry types a proxy-cache project may have as its upstream (of Harbor's permitted ones, those
#: berth has an adapter for)
PROXY_REGISTRY_TYPES = ("docker-registry", "harbor", "docker-hub")
#: Harbor's default retention for a proxy project (src/server/v2.0/handler/project.go): 7 days since pull
PROXY_RETENTION_DAYS = 7
#: a proxy project's settings (its upstream client with them) are re-read at least this often
SETTINGS_TTL = 60.0
#: a manifest waits this long for its blobs to arrive before it is forgotten
PENDING_SECONDS = 600.0
_PENDING_MAX = 1000
#: referrers answers remembered for when the upstream fails (Harbor keeps them in its cache for 7 days)
_REFERRERS_MAX = 10_000
_QUEUE_CHUNKS = 16


class UpstreamUnusable(RegistryError):
    """The upstream could not be used and nothing is cached: 503 UNAVAILABLE (429 when it rate-limits)."""

    code = "UNAVAILABLE"

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status
        if status == 429:
            self.code = "TOOMANYREQUESTS"


@dataclass(slots=True)
class _Proxy:
    """One proxy project as the cache uses it."""

    project: str
    registry_type: str
    client: UpstreamClient
    local_on_not_found: bool
    filter_pattern: str
    filter_kind: str
    loaded: float
    #: Harbor's proxy_referrer_api: referrers asked of the upstream (else listed from what is cached)
    referrer_api: bool = False


@dataclass(slots=True)
class _Pending:
    repository: str
    tag: str | None
    upstream: UpstreamManifest
    since: float


@dataclass(slots=True)
class ProxyTotals:
    """What the cache did since start, for /metrics (berth_proxy_cache_*)."""

    #: manifest and blob requests answered locally / fetched from upstream
    local: int = 0
    fetched: int = 0
    #: cached copies served because the upstream failed, by reason (unreachable, rate_limited, error)
    stale: dict[str, int] = field(default_factory=dict)
    #: upstream blobs refused because their bytes were not what their digest says
    rejected: int = 0


@dataclass(slots=True)
class BlobStream:
    """An upstream blob on its way to the client and the store."""

    size: int | None
    chunks: AsyncIterator[bytes]
    #: the file the blob is written into, when the store has local files, and a descriptor of it: a
    #: server that can follow it sends the bytes from there itself, instead of `chunks`
    spool: Spool | None = None
    reader: io.FileIO | None = None

    async def close(self) -> None:
        await self.chunks.aclose()  # type: ignore[attr-defined]
        if self.reader is not None:
            self.reader.close()


class ProxyCacheService:
    def __init__(
        self, projects: ProjectService, registries: RegistryService, manifests: ManifestService, blobs: BlobService,
        uploads: UploadService, pulls: PullRecorder, *, max_manifest_bytes: int, revalidate_seconds: float = 0.0,
    ) -> None:
        self._projects = projects
        self._registries = registries
        self._manifests = manifests
        self._blobs = blobs
        self._uploads = uploads
        self._pulls = pulls
        self._max_manifest = max_manifest_bytes
        self._revalidate = revalidate_seconds
        self._proxies: dict[str, _Proxy] = {}
        self._retired: list[UpstreamClient] = []
        #: (repository, tag) -> (digest, monotonic time it was last confirmed upstream)
        self._confirmed: dict[tuple[str, str], tuple[str, float]] = {}
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._fills: set[asyncio.Task[None]] = set()
        #: (repository, subject digest, query) -> the upstream's last referrers answer (most recent last)
        self._referrers: OrderedDict[tuple[str, str, str], UpstreamReferrers] = OrderedDict()
        #: (project, digest) -> the fetch under way
        self._fetches: dict[tuple[str, str], _Fetch] = {}
        self.totals = ProxyTotals()

    # --- settings --------------------------------------------------------------------------------------

    def forget(self) -> None:
        """A project or registry changed: re-read every proxy project's settings at its next pull."""
        self._retired.extend(proxy.client for proxy in self._proxies.values())
        self._proxies.clear()

    async def close(self) -> None:
        for task in list(self._fills):
            task.cancel()
        self.forget()
        for client in self._retired:
            with contextlib.suppress(Exception):
                await client.aclose()
        self._retired.clear()

    async def _proxy(self, project_name: str) -> _Proxy:
        proxy = self._proxies.get(project_name)
        if proxy is not None and time.monotonic() - proxy.loaded < SETTINGS_TTL:
            return proxy
        project = await self._projects.get(project_name, by_name=True)
        if not project.registry_id:
            raise NameUnknown(f"project {project_name} is not a proxy cache project")
        try:
            stored = await self._registries.get(project.registry_id)
        except NotFound:
            raise UpstreamUnusable(f"the upstream registry {project.registry_id} of project {project_name} "
                                   "no longer exists") from None
        meta = project.metadata
        client = UpstreamClient(
            self._registries.endpoint(stored), speed_kb=_int(meta.get("proxy_speed_kb")),
            max_connections=_int(meta.get("max_upstream_conn")), max_manifest_bytes=self._max_manifest,
        )
        if proxy is not None:
            self._retired.append(proxy.client)
        proxy = _Proxy(project_name, stored.type, client, meta.get("proxy_cache_local_on_not_found") == "true",
                       meta.get("proxy_cache_filter_pattern", ""), meta.get("proxy_cache_filter_kind", ""),
                       time.monotonic(), meta.get("proxy_referrer_api") == "true")
        self._proxies[project_name] = proxy
        return proxy

    async def canonical_name(self, name: str) -> str:
        """The name the project caches `name` under: Docker Hub's one-segment names are `library/` ones
        (Harbor redirects `<project>/nginx` to `<project>/library/nginx`, so both are one cache)."""
        project, _, repository = name.partition("/")
        proxy = await self._proxy(project)
        return f"{project}/{upstream_repository(proxy.registry_type, repository)}"

    async def _target(self, name: str) -> tuple[_Proxy, str]:
        """The project's proxy and the repository to ask its upstream for."""
        project, _, repository = name.partition("/")
        proxy = await self._proxy(project)
        problem = filter_problem(repository, proxy.filter_pattern, proxy.filter_kind)
        if problem:
            raise NameUnknown(problem)
        return proxy, upstream_repository(proxy.registry_type, repository)

    # --- manifests ------------------------------------------------------------------------------------

    async def manifest(self, name: str, reference: str) -> ManifestRecord:
        """The manifest to serve for `name:reference` in a proxy project (local, or fetched and kept)."""
        if is_digest_reference(reference):
            local = await self._local_manifest(name, reference)
            if local is not None:  # content-addressed: a cached digest never changes
                self.totals.local += 1
                return local
            proxy, upstream = await self._target(name)
            fetched = await self._upstream(proxy, name, reference, None, lambda: proxy.client.get_manifest(
                upstream, reference))
            assert isinstance(fetched, UpstreamManifest)
            return await self._keep(name, None, fetched)
        local = await self._local_manifest(name, reference)
        key = (name, reference)
        confirmed = self._confirmed.get(key)
        if local is not None and confirmed is not None and confirmed[0] == local.digest \
                and time.monotonic() - confirmed[1] < self._revalidate:
            self.totals.local += 1
            return local
        proxy, upstream = await self._target(name)
        if local is None:
            fetched = await self._upstream(proxy, name, reference, None, lambda: proxy.client.get_manifest(
                upstream, reference))
            assert isinstance(fetched, UpstreamManifest)
            self._confirmed[key] = (fetched.digest, time.monotonic())
            return await self._keep(name, reference, fetched)
        head = await self._upstream(proxy, name, reference, local, lambda: proxy.client.head_manifest(
            upstream, reference))
        if isinstance(head, ManifestRecord):  # the upstream failed: the cached copy
            return head
        self._confirmed[key] = (head.digest, time.monotonic())
        if head.digest == local.digest:
            self.totals.local += 1
            return local
        # the tag moved upstream: the new manifest (by digest, so it is verified), unless it is here already
        known = await self._local_manifest(name, head.digest)
        if known is not None:
            await self._retag(name, reference, known)
            self.totals.local += 1
            return known
        fetched = await self._upstream(proxy, name, reference, local, lambda: proxy.client.get_manifest(
            upstream, head.digest))
        if isinstance(fetched, ManifestRecord):
            return fetched
        return await self._keep(name, reference, fetched)

    async def _local_manifest(self, name: str, reference: str) -> ManifestRecord | None:
        try:
            return await self._manifests.get(name, reference)
        except (ManifestUnknown, NameUnknown):
            return None

    async def _upstream(
        self, proxy: _Proxy, name: str, reference: str, local: ManifestRecord | None, call: Any,
    ) -> UpstreamManifest | ManifestRecord:
        """`call()`'s answer; when the upstream fails, the cached copy (`local`) if there is one."""
        try:
            return await call()
        except UpstreamNotFound:
            if local is not None and proxy.local_on_not_found:
                self._stale(name, reference, "not_found", "the upstream no longer has it")
                return local
            raise ManifestUnknown("manifest unknown to registry", {"reference": reference}) from None
        except TooManyUpstreamRequests as exc:
            if local is not None:
                self._stale(name, reference, "max_upstream_conn", str(exc))
                return local
            raise TooManyRequests(str(exc)) from None
        except (UpstreamUnavailable, UpstreamInvalid) as exc:
            rate_limited = isinstance(exc, UpstreamUnavailable) and exc.rate_limited
            reason = exc.reason if isinstance(exc, UpstreamUnavailable) else str(exc)
            if local is not None:
                self._stale(name, reference, "rate_limited" if rate_limited else "unreachable", reason)
                return local
            raise UpstreamUnusable(f"the upstream registry is unavailable: {reason}"[:500],
                                   429 if rate_limited else 503) from None

    def _stale(self, name: str, reference: str, why: str, reason: str) -> None:
        self.totals.stale[why] = self.totals.stale.get(why, 0) + 1
        log.warning("proxy cache serves its cached copy", repository=name, reference=reference, why=why,
                    reason=reason[:300])

    async def _keep(self, name: str, tag: str | None, fetched: UpstreamManifest) -> ManifestRecord:
        """Store a manifest fetched from upstream (or keep it waiting for its blobs); the record to serve."""
        assert fetched.content is not None
        self.totals.fetched += 1
        record = ManifestRecord(fetched.digest, fetched.media_type, fetched.content)
        if not await self._store(_Pending(name, tag, fetched, time.monotonic())):
            if len(self._pending) >= _PENDING_MAX:
                self._expire(force=True)
            self._pending[(name, fetched.digest)] = _Pending(name, tag, fetched, time.monotonic())
        return record

    async def _store(self, pending: _Pending) -> bool:
        """Store a manifest whose blobs are all here; False while some are missing."""
        fetched = pending.upstream
        assert fetched.content is not None
        try:
            await self._manifests.put(pending.repository, pending.tag or fetched.digest, fetched.content,
                                      fetched.media_type or None, partial_index=True)
        except ManifestBlobUnknown:
            return False
        except RegistryError as exc:  # not something berth stores (serving it still helps the client)
            log.warning("proxy cache cannot keep a manifest", repository=pending.repository, digest=fetched.digest,
                        error=exc.message[:300])
            return True
        self._pulls.mark_pulled(pending.repository, fetched.digest, pending.tag)
        return True

    async def _retag(self, name: str, tag: str, record: ManifestRecord) -> None:
        with contextlib.suppress(RegistryError):
            await self._manifests.put(name, tag, record.content, record.media_type, partial_index=True)

    async def _settle(self, name: str) -> None:
        """A blob of `name` arrived: store the manifests that were waiting for it."""
        self._expire()
        for key, pending in list(self._pending.items()):
            if pending.repository == name and key in self._pending and await self._store(pending):
                self._pending.pop(key, None)

    def _expire(self, force: bool = False) -> None:
        now = time.monotonic()
        for key, pending in list(self._pending.items()):
            if force or now - pending.since > PENDING_SECONDS:
                self._pending.pop(key, None)
                force = False

    # --- referrers --------------------------------------------------------------------------------------

    async def referrers(self, name: str, digest: Digest, query: dict[str, str]) -> UpstreamReferrers | None:
        """Harbor's proxied referrers API (a project whose `proxy_referrer_api` is true): the upstream's
        answer (its referrers API, or the referrers tag schema), remembered, and served again when the
        upstream fails; None when the project does not proxy referrers, or the upstream fails and no
        answer is remembered: the local listing answers (what the cache holds), as Harbor falls back."""
        proxy, upstream = await self._target(name)
        if not proxy.referrer_api:
            return None
        key = (name, str(digest), urlencode(sorted(query.items())))
        try:
            found = await proxy.client.referrers(upstream, str(digest), query)
        except (UpstreamUnavailable, UpstreamInvalid, UpstreamNotFound, TooManyUpstreamRequests) as exc:
            remembered = self._referrers.get(key)
            rate_limited = isinstance(exc, UpstreamUnavailable) and exc.rate_limited
            reason = exc.reason if isinstance(exc, UpstreamUnavailable) else str(exc)
            if remembered is None:
                log.warning("proxy cache lists the referrers it holds", repository=name, digest=str(digest),
                            reason=reason[:300])
                return None
            self._stale(name, str(digest), "rate_limited" if rate_limited else "unreachable", reason)
            return remembered
        self.totals.fetched += 1
        self._referrers[key] = found
        self._referrers.move_to_end(key)
        while len(self._referrers) > _REFERRERS_MAX:
            self._referrers.popitem(last=False)
        return found

    # --- blobs ------------------------------------------------------------------------------------------

    async def link_local(self, name: str, digest: Digest) -> bool:
        """Link a blob another repository of the project holds already (no upstream fetch)."""
        return await self._blobs.mount(name, digest, None) is not None

    async def blob_size(self, name: str, digest: Digest) -> int:
        proxy, upstream = await self._target(name)
        try:
            return await proxy.client.head_blob(upstream, str(digest))
        except UpstreamNotFound:
            raise BlobUnknown("blob unknown to registry", {"digest": str(digest)}) from None
        except TooManyUpstreamRequests as exc:
            raise TooManyRequests(str(exc)) from None
        except (UpstreamUnavailable, UpstreamInvalid) as exc:
            raise _unusable(exc) from None

    def fetching(self, name: str, digest: Digest) -> bool:
        """Whether a fetch of this blob is under way in `name`'s project (a pull of it joins the fetch:
        until the fetch has stored and linked it, the blob is not served locally)."""
        return _fetch_key(name, digest) in self._fetches

    async def open_blob(self, name: str, digest: Digest) -> BlobStream:
        """Start fetching a blob from upstream into the store, or join the fetch of it under way in the
        project (the upstream is asked once; the blob is linked into every repository that pulled it);
        its bytes for the client as they come. Fails (before any byte) when the upstream does not have
        it or cannot be reached."""
        proxy, upstream = await self._target(name)
        key = _fetch_key(name, digest)
        fetch = self._fetches.get(key)
        if fetch is None:
            spool = self._uploads.spool(digest)
            if spool is None:  # no local files to follow (object stores): this pull's own relay
                return await self._open_relay(proxy, name, upstream, digest)
            fetch = self._fetches[key] = _Fetch(spool)
            self._start(self._fetch(proxy, name, upstream, digest, fetch))
        fetch.repositories.add(name)
        await fetch.started.wait()
        if fetch.error is not None:
            raise _refusal(fetch.error, digest)
        try:
            reader = io.FileIO(fetch.spool.open_reader(), "r")  # closed by its response, or when dropped
        except ValueError:  # the fetch ended before this pull woke up: it starts anew
            return await self.open_blob(name, digest)
        self.totals.fetched += 1
        return BlobStream(fetch.size, _follow(fetch.spool, reader.fileno()), fetch.spool, reader)

    def _start(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._fills.add(task)
        task.add_done_callback(self._fills.discard)

    async def _fetch(self, proxy: _Proxy, name: str, upstream: str, digest: Digest, fetch: _Fetch) -> None:
        """Copy the blob from upstream into the fetch's spool on a worker thread (read, hash, write),
        while the clients follow the spool; they get its last bytes once the digest is checked. Then the
        spool is synced, the blob recorded and renamed into place, and waiting manifests stored: after
        the clients have their bytes (they find the fetch meanwhile, so a pull that follows at once
        gets the same bytes)."""
        spool = fetch.spool
        try:
            try:
                await self._uploads.check_room(name)
                async with proxy.client.blob(upstream, str(digest)) as body:
                    fetch.size = body.size
                    fetch.started.set()
                    count = await body.copy(spool.write)
                if (body.size is not None and count != body.size) or spool.hasher.hexdigest() != digest.hex:
                    raise UpstreamInvalid(f"the upstream sent {count} bytes that are not {digest}")
            except BaseException as exc:
                spool.fail()
                self._failed(name, digest, fetch, exc)
                if not isinstance(exc, Exception):
                    raise
                return
            spool.seal()
            try:
                await self._uploads.keep_spooled(name, digest, spool)
                await self._settle(name)
                linked = {name}
                while others := fetch.repositories - linked:  # the project's other pulls of it
                    other = others.pop()
                    linked.add(other)
                    await self.link_local(other, digest)
                    await self._settle(other)
            except Exception as exc:  # the clients have the verified bytes; the next pull fetches them again
                log.warning("proxy cache could not store a blob", repository=name, digest=str(digest),
                            error=str(getattr(exc, "message", exc))[:300])
        finally:
            self._fetches.pop(_fetch_key(name, digest), None)
            await spool.discard()

    def _failed(self, name: str, digest: Digest, fetch: _Fetch | _Fill, exc: BaseException) -> None:
        if not fetch.started.is_set():
            fetch.error = exc if isinstance(exc, Exception) else UpstreamUnavailable("cancelled")
            fetch.started.set()
        else:
            self.totals.rejected += 1
            log.warning("proxy cache refused an upstream blob", repository=name, digest=str(digest),
                        error=str(getattr(exc, "message", exc))[:300])

    async def _open_relay(self, proxy: _Proxy, name: str, upstream: str, digest: Digest) -> BlobStream:
        fill = _Fill()
        self._start(self._relay(proxy, name, upstream, digest, fill))
        await fill.started.wait()
        if fill.error is not None:
            raise _refusal(fill.error, digest)
        self.totals.fetched += 1
        return BlobStream(fill.size, fill.chunks())

    async def _relay(self, proxy: _Proxy, name: str, upstream: str, digest: Digest, fill: _Fill) -> None:
        """Read the blob from upstream into an upload that keeps it only if its digest is right, handing
        each chunk to the client on the way (a store without local files). The client's last chunk goes
        once the blob is stored and linked: a pull that follows at once finds it."""
        try:
            async with proxy.client.blob(upstream, str(digest)) as body:
                fill.size = body.size

                async def tee() -> AsyncIterator[bytes]:
                    fill.started.set()
                    async for chunk in body.chunks():
                        await fill.offer(chunk)
                        yield chunk

                await self._uploads.monolithic(name, digest, tee(), body.size)
        except BaseException as exc:
            self._failed(name, digest, fill, exc)
            fill.finish(ok=False)
            if not isinstance(exc, Exception):
                raise
            return
        try:  # before the client gets its last chunk: a finished pull has its manifest stored
            await self._settle(name)
        except Exception:
            log.exception("proxy cache could not store a waiting manifest", repository=name)
        fill.finish(ok=True)


def proxy_retention_policy(project_id: int) -> dict[str, Any]:
    """The retention policy Harbor gives a new proxy project: every tag of every repository that was
    pulled in the last 7 days is retained, the rest goes, daily at midnight."""
    return {
        "algorithm": "or",
        "rules": [{
            "id": 1, "priority": 1, "action": "retain", "template": "nDaysSinceLastPull",
            "params": {"nDaysSinceLastPull": PROXY_RETENTION_DAYS},
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
        }],
        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}},
        "scope": {"level": "project", "ref": project_id},
    }


def _refusal(error: BaseException, digest: Digest) -> BaseException:
    """The error a pull gets when the fetch failed before its first byte."""
    if isinstance(error, UpstreamNotFound):
        return BlobUnknown("blob unknown to registry", {"digest": str(digest)})
    if isinstance(error, TooManyUpstreamRequests):
        return TooManyRequests(str(error))
    if isinstance(error, UpstreamUnavailable | UpstreamInvalid):
        return _unusable(error)
    return error


def _unusable(exc: UpstreamUnavailable | UpstreamInvalid) -> UpstreamUnusable:
    if isinstance(exc, UpstreamUnavailable):
        return UpstreamUnusable(f"the upstream registry is unavailable: {exc.reason}"[:500],
                                429 if exc.rate_limited else 503)
    return UpstreamUnusable(f"the upstream registry answered wrongly: {exc}"[:500])


@dataclass(slots=True, eq=False)
class _Fetch:
    """A blob being fetched into a spool, which every pull of it in the project follows."""

    spool: Spool
    started: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None
    size: int | None = None
    #: the repositories it was pulled in (each gets it linked)
    repositories: set[str] = field(default_factory=set)


def _fetch_key(name: str, digest: Digest) -> tuple[str, str]:
    """A fetch is shared by the pulls of a blob in one project (one upstream, content-addressed bytes)."""
    return name.partition("/")[0], str(digest)


#: a client following a spool reads at most this much at a time, and waits this long at first for more
_FOLLOW_READ = 1 << 20
_FOLLOW_PAUSE = 0.002


async def _follow(spool: Spool, fd: int) -> AsyncIterator[bytes]:
    """A spool's bytes as the writer lets them be read, for a server that cannot follow it itself.
    Raises when they turned out bad: the response is cut before its end. Waits on the event loop
    (no worker thread is held while the upstream is slow); the reads go to a worker thread."""
    sent, pause = 0, _FOLLOW_PAUSE
    while True:
        readable = spool.wait(sent, 0)
        if readable < 0:
            raise UpstreamUnavailable("the upstream blob was cut short or is not what its digest says")
        if readable > sent:
            chunk = await to_thread.run_sync(os.pread, fd, min(_FOLLOW_READ, readable - sent), sent)
            if not chunk:
                raise OSError(f"the spool ends at {sent} bytes, {readable} were written")
            sent += len(chunk)
            pause = _FOLLOW_PAUSE
            yield chunk
        elif spool.sealed:
            return
        else:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)


_DONE, _FAILED = object(), object()


class _Fill:
    """Hands the chunks of one upstream blob from the task that stores them to the client's response.
    The response holds the last chunk back until the store has verified the digest."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.error: BaseException | None = None
        self.size: int | None = None
        self._queue: asyncio.Queue[object] = asyncio.Queue(_QUEUE_CHUNKS)
        self._client_gone = False
        self._finished = False

    async def offer(self, chunk: bytes) -> None:
        if not self._client_gone:
            await self._queue.put(chunk)

    def finish(self, ok: bool) -> None:
        """The client's verdict (once)."""
        if self._finished:
            return
        self._finished = True
        marker = _DONE if ok else _FAILED
        if self._client_gone:
            return
        try:
            self._queue.put_nowait(marker)
        except asyncio.QueueFull:  # the client is slow: it gets the marker after the chunks it has not read
            asyncio.get_running_loop().create_task(self._queue.put(marker))

    async def chunks(self) -> AsyncIterator[bytes]:
        held: bytes | None = None
        try:
            while True:
                item = await self._queue.get()
                if item is _DONE:
                    if held:
                        yield held
                    return
                if item is _FAILED:
                    raise UpstreamUnavailable("the upstream blob was cut short or is not what its digest says")
                if held is not None:
                    yield held
                held = item  # type: ignore[assignment]
        finally:
            # the client left (or got everything): the store goes on without it
            self._client_gone = True
            while not self._queue.empty():
                self._queue.get_nowait()


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
