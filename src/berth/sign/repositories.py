"""Where `berth sign` and `berth verify` meet signatures: one repository on any OCI registry over
HTTP (Docker token auth or Basic), or an OCI image layout on disk; pushing a signature there and
finding an image's signatures both ways (cosign's `.sig` tag, OCI 1.1 referrers)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, Self
from urllib.parse import urljoin

import httpx
import orjson

from berth import __version__, mediatypes
from berth.references import InvalidDigest, is_digest_reference, parse_digest
from berth.sign.model import SignatureArtifact
from berth.sign.signer import SignatureManifest, referrers_index, referrers_tag, signature_tag

#: what a manifest GET accepts: every kind an image or a signature can be
MANIFEST_ACCEPT = (f"{mediatypes.OCI_MANIFEST}, {mediatypes.OCI_INDEX}, {mediatypes.DOCKER_MANIFEST}, "
                   f"{mediatypes.DOCKER_MANIFEST_LIST}")
#: a manifest larger than this is no image or signature manifest (the OCI spec's advised 4 MiB)
MAX_MANIFEST_BYTES = 4 << 20
#: signature manifests read for one image at most (a repository flooded with referrers stays bounded)
MAX_SIGNATURES = 64
_MAX_REFERRER_PAGES = 16
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class RepositoryError(Exception):
    """The repository could not be read or written; the message is one line for the user."""


class NotFound(RepositoryError):
    """No manifest or blob under that reference."""


class Repository(Protocol):
    """What finding signatures needs of a place that holds images."""

    name: str

    def manifest(self, reference: str) -> tuple[str, bytes] | None:
        """(media type, exact bytes) of a manifest by tag or digest; None when there is none."""

    def read_blob(self, digest: str, limit: int) -> bytes:
        """A blob's bytes, checked against its digest; ValueError when it is over `limit` bytes."""

    def referrers(self, digest: str) -> list[dict[str, Any]] | None:
        """The descriptors of manifests whose subject is `digest`; None when the repository cannot
        answer that (no referrers API: the referrers tag scheme is read instead)."""


def descriptor_of(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def resolve(repository: Repository, reference: str) -> dict[str, Any]:
    """The descriptor (mediaType, digest, size) of the manifest a tag or digest names; NotFound if none."""
    found = repository.manifest(reference)
    if found is None:
        raise NotFound(f"{repository.name}:{reference} not found" if not is_digest_reference(reference)
                       else f"{repository.name}@{reference} not found")
    return descriptor_of(*found)


def find_signatures(repository: Repository, digest: str) -> list[SignatureArtifact]:
    """Every signature-like manifest attached to `digest`: the cosign `sha256-<hex>.sig` manifest and
    the referrers (from the API, else from the `sha256-<hex>` referrers tag's index). Which of them
    are signatures of a known format is for `verify_all` to say."""
    artifacts: list[SignatureArtifact] = []
    tag = signature_tag(digest)
    found = repository.manifest(tag)
    if found is not None:
        artifacts.append(_artifact(repository, descriptor_of(*found)["digest"], found[1], tag))
    descriptors = repository.referrers(digest)
    if descriptors is None:
        index = repository.manifest(referrers_tag(digest))
        descriptors = _entries(index[1]) if index is not None else []
    seen = {artifact.digest for artifact in artifacts}
    for entry in descriptors:
        if len(artifacts) >= MAX_SIGNATURES:
            break
        referrer = entry.get("digest")
        if not isinstance(referrer, str) or referrer in seen or entry.get("mediaType") != mediatypes.OCI_MANIFEST:
            continue
        seen.add(referrer)
        manifest = repository.manifest(referrer)
        if manifest is not None:
            artifacts.append(_artifact(repository, referrer, manifest[1], None))
    return artifacts


def _artifact(repository: Repository, digest: str, data: bytes, tag: str | None) -> SignatureArtifact:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        document = {}
    return SignatureArtifact(digest, document if isinstance(document, dict) else {}, repository.read_blob, tag)


def _entries(index: bytes) -> list[dict[str, Any]]:
    try:
        document = orjson.loads(index)
    except orjson.JSONDecodeError:
        return []
    manifests = document.get("manifests") if isinstance(document, dict) else None
    return [entry for entry in manifests or [] if isinstance(entry, dict)]


def push_signature(registry: Registry, signature: SignatureManifest, subject_digest: str) -> str:
    """Push a signature manifest and its blobs; returns its digest. A referrer the registry did not
    take as one (no `OCI-Subject` answer and no referrers API) is also listed in the referrers tag's
    index, as the OCI distribution spec tells clients to do."""
    for blob in signature.blobs:
        registry.push_blob(blob.data, blob.digest)
    response = registry.put_manifest(signature.tag or signature.digest, mediatypes.OCI_MANIFEST, signature.manifest)
    if signature.tag is None and "oci-subject" not in response.headers and registry.referrers(subject_digest) is None:
        tag = referrers_tag(subject_digest)
        existing = registry.manifest(tag)
        registry.put_manifest(tag, mediatypes.OCI_INDEX,
                              referrers_index(existing[1] if existing else None, signature))
    return signature.digest


class Registry:
    """One repository of a registry's /v2 API, read and written anonymously or with a user's
    credentials: on a Bearer challenge a token for `pull` (or `pull,push`) is fetched from the realm
    with Basic credentials if any; on a Basic challenge the credentials are sent as they are."""

    def __init__(
        self,
        host: str,
        name: str,
        *,
        username: str | None = None,
        password: str | None = None,
        plain_http: bool = False,
        tls_verify: bool = True,
        push: bool = False,
        timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.name = name
        # a signer's User-Agent: registries that let signers with push access read what they sign in a
        # project that enforces signatures (Harbor: "cosign", "notation"; berth: also "berth-sign")
        agent = f"berth-sign/{__version__}" if push else f"berth/{__version__}"
        self._client = httpx.Client(verify=tls_verify, timeout=timeout, headers={"User-Agent": agent})
        #: the Basic `Authorization` value of the user's credentials, None for anonymous access
        self._basic = None
        if username is not None:
            self._basic = "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        self._authorization: str | None = None
        self._actions = "pull,push" if push else "pull"
        self.base = f"http://{host}" if plain_http else f"https://{host}"
        if not plain_http and not tls_verify:
            self.base = self._probe_scheme()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _probe_scheme(self) -> str:
        """Without TLS verification, plain HTTP when HTTPS does not answer (as skopeo does)."""
        try:
            self._client.get(f"https://{self.host}/v2/", timeout=5.0)
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectTimeout):
            return f"http://{self.host}"
        except httpx.HTTPError as error:
            raise RepositoryError(f"{self.host}: {error}") from None
        return f"https://{self.host}"

    # -- requests ---------------------------------------------------------------------------------

    def _request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, content: bytes | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send with our credentials, answering one auth challenge."""
        if url.startswith("/"):
            url = self.base + url
        response = self._send(method, url, headers, content, stream)
        if response.status_code != 401:
            return response
        challenge = response.headers.get("www-authenticate", "")
        response.close()
        scheme, _, rest = challenge.strip().partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(rest))
        if scheme.lower() == "bearer" and "realm" in params:
            self._authorization = "Bearer " + self._token(params)
        elif scheme.lower() == "basic" and self._basic is not None:
            self._authorization = self._basic
        else:
            raise RepositoryError(f"{self.host}: authentication required (use --creds USER:PASSWORD)")
        response = self._send(method, url, headers, content, stream)
        if response.status_code == 401:
            response.close()
            if self._basic is None:
                raise RepositoryError(f"{self.host}: authentication required (use --creds USER:PASSWORD)")
            raise RepositoryError(f"{self.host}: the credentials were refused")
        return response

    def _send(
        self, method: str, url: str, headers: dict[str, str] | None, content: bytes | None, stream: bool,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if self._authorization:
            sent["Authorization"] = self._authorization
        try:
            request = self._client.build_request(method, url, headers=sent, content=content)
            # httpx drops Authorization when a redirect leaves the registry (presigned storage URLs)
            return self._client.send(request, stream=stream, follow_redirects=method in ("GET", "HEAD"))
        except httpx.HTTPError as error:
            raise RepositoryError(f"{self.host}: {error}") from None

    def _token(self, params: dict[str, str]) -> str:
        query = {"service": params.get("service", ""), "scope": f"repository:{self.name}:{self._actions}"}
        try:
            headers = {"Authorization": self._basic} if self._basic else {}
            response = self._client.get(params["realm"], params=query, headers=headers)
        except httpx.HTTPError as error:
            raise RepositoryError(f"token service {params['realm']}: {error}") from None
        if response.status_code != 200:
            raise RepositoryError(f"token service {params['realm']}: HTTP {response.status_code} "
                                  f"({'credentials refused' if response.status_code == 401 else 'no token'})")
        try:
            body = response.json()
        except ValueError:
            body = {}
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RepositoryError(f"token service {params['realm']}: no token in the answer")
        return token

    def _path(self, kind: str, reference: str) -> str:
        return f"/v2/{self.name}/{kind}/{reference}"

    # -- reads ------------------------------------------------------------------------------------

    def manifest(self, reference: str) -> tuple[str, bytes] | None:
        response = self._request("GET", self._path("manifests", reference), stream=True,
                                 headers={"Accept": MANIFEST_ACCEPT})
        try:
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                # the registry's reason (a policy's 412 says why), from at most 64 KiB of the error body
                raise RepositoryError(f"manifest {self.name}:{reference}: HTTP {response.status_code}"
                                      f"{_reason(_first_bytes(response, 64 << 10))}")
            data = _read_limited(response, MAX_MANIFEST_BYTES, f"manifest {reference}")
        finally:
            response.close()
        if is_digest_reference(reference):
            _check_digest(reference, data)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type not in mediatypes.MANIFESTS:
            media_type = _declared_media_type(data)
        return media_type, data

    def read_blob(self, digest: str, limit: int) -> bytes:
        response = self._request("GET", self._path("blobs", digest), stream=True)
        try:
            if response.status_code == 404:
                raise NotFound(f"blob {self.name}@{digest} not found")
            if response.status_code != 200:
                raise RepositoryError(f"blob {self.name}@{digest}: HTTP {response.status_code}")
            data = _read_limited(response, limit, f"blob {digest}")
        finally:
            response.close()
        _check_digest(digest, data)
        return data

    def referrers(self, digest: str) -> list[dict[str, Any]] | None:
        url: str | None = self._path("referrers", digest)
        entries: list[dict[str, Any]] = []
        for _ in range(_MAX_REFERRER_PAGES):
            if url is None:
                break
            response = self._request("GET", url, headers={"Accept": mediatypes.OCI_INDEX})
            if response.status_code == 404 and not entries:
                return None
            if response.status_code != 200:
                raise RepositoryError(f"referrers of {self.name}@{digest}: HTTP {response.status_code}")
            entries += _entries(response.content)
            link = _NEXT_LINK.search(response.headers.get("link", ""))
            url = urljoin(str(response.url), link.group(1)) if link else None
        return entries

    # -- writes -----------------------------------------------------------------------------------

    def push_blob(self, data: bytes, digest: str) -> None:
        """Upload a blob in one request (POST then PUT), unless the repository has it already."""
        head = self._request("HEAD", self._path("blobs", digest))
        if head.status_code == 200:
            return
        started = self._request("POST", f"/v2/{self.name}/blobs/uploads/")
        if started.status_code != 202 or "location" not in started.headers:
            raise RepositoryError(f"{self.name}: upload refused: HTTP {started.status_code}{_error_text(started)}")
        # the upload URL may carry state of its own in its query (distribution's `_state`): keep it
        location = httpx.URL(urljoin(str(started.url), started.headers["location"])).copy_add_param("digest", digest)
        done = self._request("PUT", str(location), content=data,
                             headers={"Content-Type": "application/octet-stream"})
        if done.status_code != 201:
            raise RepositoryError(f"{self.name}: blob {digest} refused: HTTP {done.status_code}{_error_text(done)}")

    def put_manifest(self, reference: str, media_type: str, data: bytes) -> httpx.Response:
        response = self._request("PUT", self._path("manifests", reference), content=data,
                                 headers={"Content-Type": media_type})
        if response.status_code != 201:
            raise RepositoryError(f"{self.name}: manifest {reference} refused: HTTP {response.status_code}"
                                  f"{_error_text(response)}")
        return response


class Layout:
    """An OCI image layout directory (`oci:PATH`) as a read-only repository: tags are the
    `org.opencontainers.image.ref.name` annotations of index.json; referrers are the manifests
    index.json lists whose `subject` is the image."""

    REF_NAME = "org.opencontainers.image.ref.name"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = str(root)
        try:
            index = orjson.loads((root / "index.json").read_bytes())
        except (OSError, orjson.JSONDecodeError) as error:
            raise RepositoryError(f"{root} is not an OCI image layout: {error}") from None
        self._entries = [e for e in (index.get("manifests") or []) if isinstance(e, dict)]

    def only_image(self) -> str:
        """The digest of the layout's one image (signature tags aside); RepositoryError when it holds
        several, which then have to be named by tag."""
        images = [e for e in self._entries
                  if not str((e.get("annotations") or {}).get(self.REF_NAME, "")).startswith("sha256-")]
        if len(images) != 1:
            raise RepositoryError(f"{self.root} holds {len(images)} images: name one as oci:PATH:TAG")
        return str(images[0].get("digest"))

    def manifest(self, reference: str) -> tuple[str, bytes] | None:
        if not is_digest_reference(reference):
            named = [e for e in self._entries if (e.get("annotations") or {}).get(self.REF_NAME) == reference]
            if not named:
                return None
            reference = str(named[0].get("digest"))
        try:
            data = self.read_blob(reference, MAX_MANIFEST_BYTES)
        except NotFound:
            return None
        declared = next((e.get("mediaType") for e in self._entries if e.get("digest") == reference), None)
        return (declared if isinstance(declared, str) else _declared_media_type(data)), data

    def read_blob(self, digest: str, limit: int) -> bytes:
        try:
            parsed = parse_digest(digest)
        except InvalidDigest:
            raise NotFound(f"not a digest: {digest}") from None
        path = self.root / "blobs" / parsed.algorithm / parsed.hex
        try:
            with path.open("rb") as file:
                data = file.read(limit + 1)
        except FileNotFoundError:
            raise NotFound(f"no blob {digest} in {self.root}") from None
        if len(data) > limit:
            raise ValueError(f"blob {digest} is over {limit} bytes")
        _check_digest(digest, data)
        return data

    def referrers(self, digest: str) -> list[dict[str, Any]] | None:
        found = []
        for entry in self._candidates():
            try:
                document = orjson.loads(self.read_blob(str(entry.get("digest")), MAX_MANIFEST_BYTES))
            except (RepositoryError, ValueError):
                continue
            subject = document.get("subject") if isinstance(document, dict) else None
            if isinstance(subject, dict) and subject.get("digest") == digest:
                found.append(entry)
        return found

    def _candidates(self) -> Iterator[dict[str, Any]]:
        for entry in self._entries[: MAX_SIGNATURES * 4]:
            if entry.get("mediaType") == mediatypes.OCI_MANIFEST:
                yield entry


def _read_limited(response: httpx.Response, limit: int, what: str) -> bytes:
    chunks, size = [], 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise ValueError(f"{what} is over {limit} bytes")
            chunks.append(chunk)
    except httpx.HTTPError as error:
        raise RepositoryError(f"{what}: {error}") from None
    return b"".join(chunks)


def _check_digest(digest: str, data: bytes) -> None:
    try:
        parsed = parse_digest(digest)
    except InvalidDigest:
        raise RepositoryError(f"not a digest: {digest}") from None
    hasher = parsed.hasher()
    hasher.update(data)
    if hasher.hexdigest() != parsed.hex:
        raise RepositoryError(f"{digest} does not match the bytes served")


def _declared_media_type(data: bytes) -> str:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise RepositoryError("the manifest is not JSON") from None
    declared = document.get("mediaType") if isinstance(document, dict) else None
    if isinstance(declared, str) and declared:
        return declared
    return mediatypes.OCI_INDEX if isinstance(document, dict) and "manifests" in document else mediatypes.OCI_MANIFEST


def _error_text(response: httpx.Response) -> str:
    return _reason(response.content)


def _reason(body: bytes) -> str:
    """` (CODE: message)` of an OCI error body, else ""."""
    try:
        errors = orjson.loads(body).get("errors") or []
        return f" ({errors[0].get('code')}: {errors[0].get('message')})" if errors else ""
    except (ValueError, AttributeError, IndexError):
        return ""


def _first_bytes(response: httpx.Response, limit: int) -> bytes:
    """Up to `limit` bytes of a streamed body (the rest is left unread)."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit])
