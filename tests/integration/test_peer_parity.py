"""The same raw push/pull session against the peer (docker-registry 2.8) and berth, answer by answer.

Every step where the two differ is listed in DIVERGENCES with the reason (the
peer predates OCI 1.1, or breaks the spec where berth follows it), and berth's
own answer there is checked in test_berth_answers_the_spec_where_the_peer_diverges.
"""

from __future__ import annotations

import pprint
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from .helpers import OCI_MANIFEST, V2, canonical_json, descriptor, sha256, unique, with_query

#: step -> why berth answers differently from the peer there
DIVERGENCES = {
    "monolithic-post": (
        "distribution 2.8 does not take a blob in a single POST ?digest= and opens a session (202, which the "
        "spec allows); berth stores it at once (201)"
    ),
    "out-of-order-patch": (
        "distribution 2.8 ignores a PATCH's Content-Range and appends the chunk (202), corrupting the upload; "
        "the spec says an out-of-order chunk MUST be answered 416"
    ),
    "status-after-out-of-order-patch": "follows: the peer counts the misplaced chunk, berth kept the upload as it was",
    "unknown-upload-status": (
        "the peer signs upload state into the Location (_state=…) and answers an id it did not sign with "
        "BLOB_UPLOAD_INVALID; the spec's code for an upload the registry does not know is BLOB_UPLOAD_UNKNOWN"
    ),
    "mount-without-from": (
        "the peer only mounts with from=; the spec lets a registry mount without it when it finds the blob, "
        "and berth does (201 instead of a new upload session)"
    ),
    "push-manifest-with-tag-params": (
        "distribution 2.8 ignores ?tag= on a manifest PUT (OCI 1.1); berth creates the tags and answers OCI-Tag"
    ),
    "push-referrer": "distribution 2.8 does not process subject, so it sends no OCI-Subject header",
    "referrers": "distribution 2.8 has no referrers API (404); berth implements OCI 1.1 referrers",
    "tags-after-tag-params": "follows from push-manifest-with-tag-params: berth has the extra tags",
    "tags-page-1": "distribution 2.8 ignores n/last on tags/list (no pagination); the spec requires n results",
    "tags-page-2": "as tags-page-1",
    "tags-n-0": "as tags-page-1; the spec requires an empty list without Link for n=0",
    "get-oci-manifest-without-accept": (
        "distribution 2.8 takes a request without Accept for a schema1-only client and answers an OCI manifest "
        "MANIFEST_UNKNOWN; berth serves the stored manifest with its true Content-Type (the spec has clients "
        "check Content-Type, and only asks them to send Accept)"
    ),
    "get-invalid-reference": (
        "a reference that is neither a tag nor a digest does not match the peer's router: a text/plain 404 page; "
        "berth answers the same 404 with the spec's JSON body (MANIFEST_UNKNOWN)"
    ),
    "head-invalid-reference": "as get-invalid-reference (a HEAD has no body, but berth's Content-Type is JSON)",
    "delete-invalid-reference": "as get-invalid-reference",
    "delete-blob": "berth also names the deleted blob in Docker-Content-Digest on the 202; the peer sends none",
}


@dataclass
class Transcript:
    """What a registry answered at each named step of the session."""

    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, label: str, response: httpx.Response, **extra: Any) -> httpx.Response:
        assert label not in self.steps, label
        entry: dict[str, Any] = {"status": response.status_code}
        digest = response.headers.get("Docker-Content-Digest")
        if digest is not None:
            entry["digest"] = digest
        if response.status_code >= 400 and response.content and "json" in response.headers.get("content-type", ""):
            entry["codes"] = [e.get("code") for e in response.json().get("errors", [])]
        entry.update(extra)
        self.steps[label] = entry
        return response


def run_session(base_url: str, name: str, auth: tuple[str, str] | None = None) -> Transcript:
    """Push and pull through every endpoint of the spec, recording each answer."""
    t = Transcript()
    other = f"{name}-mirror"
    rng = random.Random(name)  # the same bytes on both registries
    blob_a, blob_b, blob_c = rng.randbytes(3000), rng.randbytes(5000), rng.randbytes(10_000)
    with V2(base_url, auth=auth) as c:
        http = c.http
        t.record("base", http.get("/v2/"))

        # monolithic POST ?digest=
        r = t.record(
            "monolithic-post",
            http.post(
                f"/v2/{name}/blobs/uploads/",
                params={"digest": sha256(blob_a)},
                content=blob_a,
                headers={"Content-Type": "application/octet-stream"},
            ),
        )
        if r.status_code == 202:  # the spec's fallback for registries without single-POST uploads
            http.put(with_query(r.headers["Location"], digest=sha256(blob_a)), content=blob_a).raise_for_status()
        r = http.head(f"/v2/{name}/blobs/{sha256(blob_a)}")
        t.record("head-blob", r, length=r.headers.get("Content-Length"))

        # POST then PUT
        r = t.record("post-for-put", c.start_upload(name))
        r = http.put(with_query(r.headers["Location"], digest=sha256(blob_b)), content=blob_b)
        t.record("put-whole-blob", r)

        # chunked: POST, PATCH, GET status, PATCH, PUT with the last chunk
        r = c.start_upload(name)
        t.record("chunked-post", r, range=r.headers.get("Range"))
        location = r.headers["Location"]
        r = http.patch(
            location,
            content=blob_c[:4000],
            headers={"Content-Range": "0-3999", "Content-Type": "application/octet-stream"},
        )
        t.record("patch-1", r, range=r.headers.get("Range"))
        location = r.headers["Location"]
        r = http.get(location)
        t.record("upload-status", r, range=r.headers.get("Range"))
        r = http.patch(location, content=blob_c[4000:8000], headers={"Content-Range": "4000-7999"})
        t.record("patch-2", r, range=r.headers.get("Range"))
        location = r.headers["Location"]
        r = http.put(
            with_query(location, digest=sha256(blob_c)), content=blob_c[8000:], headers={"Content-Range": "8000-9999"}
        )
        t.record("put-last-chunk", r)
        r = http.get(f"/v2/{name}/blobs/{sha256(blob_c)}")
        t.record("get-chunked-blob", r, same=r.content == blob_c)

        # a chunk out of order, then the status of that session
        r = c.start_upload(name)
        r = http.patch(r.headers["Location"], content=blob_c[:100], headers={"Content-Range": "0-99"})
        location = r.headers["Location"]
        r = http.patch(location, content=blob_c[50:150], headers={"Content-Range": "50-149"})
        t.record("out-of-order-patch", r)
        r = http.get(r.headers.get("Location", location))
        t.record("status-after-out-of-order-patch", r, range=r.headers.get("Range"))

        # chunked with the PUT carrying no body
        r = c.start_upload(name)
        r = http.patch(r.headers["Location"], content=blob_a[:1000], headers={"Content-Range": "0-999"})
        r = http.patch(
            r.headers["Location"], content=blob_a[1000:], headers={"Content-Range": f"1000-{len(blob_a) - 1}"}
        )
        t.record("patch-rest", r, range=r.headers.get("Range"))
        t.record("put-empty-close", http.put(with_query(r.headers["Location"], digest=sha256(blob_a))))

        # a wrong digest on close
        r = c.start_upload(name)
        r = http.put(with_query(r.headers["Location"], digest=sha256(b"other")), content=b"some bytes")
        t.record("put-wrong-digest", r)

        # cancel
        r = c.start_upload(name)
        r = http.patch(r.headers["Location"], content=b"abandon", headers={"Content-Range": "0-6"})
        location = r.headers["Location"]
        t.record("cancel-upload", http.delete(location))
        t.record("cancelled-upload-status", http.get(location))
        t.record("unknown-upload-status", http.get(f"/v2/{name}/blobs/uploads/0b7e2c4e-4f9a-4c36-9d1e-a8f7c2f0e0aa"))

        # cross-repository mount
        r = http.post(f"/v2/{other}/blobs/uploads/", params={"mount": sha256(blob_a), "from": name})
        t.record("mount", r, location_names_blob=r.headers.get("Location", "").endswith(f"/blobs/{sha256(blob_a)}"))
        t.record("head-mounted", http.head(f"/v2/{other}/blobs/{sha256(blob_a)}"))
        r = http.post(f"/v2/{other}/blobs/uploads/", params={"mount": sha256(b"absent"), "from": name})
        t.record("mount-absent", r, has_location="Location" in r.headers)
        r = http.post(f"/v2/{other}/blobs/uploads/", params={"mount": sha256(blob_b)})
        t.record("mount-without-from", r)

        # manifests: by tag and by digest
        config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
        c.push_blob(name, config)
        layer_type = "application/vnd.oci.image.layer.v1.tar+gzip"
        image = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [descriptor(layer_type, blob_b), descriptor(layer_type, blob_c)],
        }
        manifest = canonical_json(image)
        digest = sha256(manifest)
        r = t.record("push-manifest-by-tag", c.put_manifest(name, "v1", manifest, OCI_MANIFEST))
        second = canonical_json({**image, "annotations": {"n": "2"}})
        second_digest = sha256(second)
        t.record("push-manifest-by-digest", c.put_manifest(name, second_digest, second, OCI_MANIFEST))
        t.record("push-same-manifest-new-tag", c.put_manifest(name, "v2", manifest, OCI_MANIFEST))
        third = canonical_json({**image, "annotations": {"n": "3"}})
        r = c.put_manifest(name, sha256(third), third, OCI_MANIFEST, tag=["t1", "t2"])
        t.record("push-manifest-with-tag-params", r, oci_tags=r.headers.get_list("OCI-Tag", split_commas=True))
        for label, ref in (("tag", "v1"), ("digest", digest)):
            r = c.get_manifest(name, ref)
            t.record(f"get-manifest-by-{label}", r, type=r.headers.get("Content-Type"), same=r.content == manifest)
            r = http.head(f"/v2/{name}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
            t.record(f"head-manifest-by-{label}", r, length=r.headers.get("Content-Length"))
        t.record("get-manifest-by-digest-2", c.get_manifest(name, second_digest))
        r = c.get_manifest(name, "v1", accept="application/vnd.docker.distribution.manifest.v2+json")
        t.record("get-oci-manifest-accepting-only-docker", r)
        r = http.get(f"/v2/{name}/manifests/v1")
        t.record("get-oci-manifest-without-accept", r, type=r.headers.get("Content-Type"))

        # a referrer (subject) and the referrers API
        referrer = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.example+type",
                "config": image["config"],
                "layers": [],
                "subject": descriptor(OCI_MANIFEST, manifest),
            }
        )
        r = c.put_manifest(name, sha256(referrer), referrer, OCI_MANIFEST)
        t.record("push-referrer", r, subject=r.headers.get("OCI-Subject"))
        r = http.get(f"/v2/{name}/referrers/{digest}")
        t.record("referrers", r)

        # listing
        r = http.get(f"/v2/{name}/tags/list")
        t.record("tags-after-tag-params", r, tags=r.json().get("tags") if r.status_code == 200 else None)
        r = http.get(f"/v2/{name}/tags/list", params={"n": 1})
        t.record("tags-page-1", r, tags=r.json().get("tags"), link="Link" in r.headers)
        r = http.get(f"/v2/{name}/tags/list", params={"n": 1, "last": "t2"})
        t.record("tags-page-2", r, tags=r.json().get("tags"))
        r = http.get(f"/v2/{name}/tags/list", params={"n": 0})
        t.record("tags-n-0", r, tags=r.json().get("tags"))
        r = http.get("/v2/_catalog")
        t.record(
            "catalog", r, listed=sorted(x for x in c.list_all("/v2/_catalog", "repositories") if x in (name, other))
        )

        # errors
        t.record("get-unknown-blob", http.get(f"/v2/{name}/blobs/{sha256(b'nope')}"))
        t.record("head-unknown-blob", http.head(f"/v2/{name}/blobs/{sha256(b'nope')}"))
        t.record("get-unknown-manifest-tag", c.get_manifest(name, "nope"))
        t.record("get-unknown-manifest-digest", c.get_manifest(name, sha256(b"nope")))
        t.record("get-invalid-reference", c.get_manifest(name, ".INVALID_MANIFEST_NAME"))
        r = http.head(f"/v2/{name}/manifests/.INVALID_MANIFEST_NAME")
        t.record("head-invalid-reference", r, type=r.headers.get("Content-Type", "").split(";")[0])
        t.record("delete-invalid-reference", http.delete(f"/v2/{name}/manifests/.INVALID_MANIFEST_NAME"))
        t.record("tags-of-unknown-repo", http.get(f"/v2/{name}-never/tags/list"))
        missing = manifest.replace(sha256(blob_b).encode(), sha256(b"missing").encode())
        t.record("push-manifest-missing-blob", c.put_manifest(name, "broken", missing, OCI_MANIFEST))
        t.record("push-manifest-digest-mismatch", c.put_manifest(name, sha256(b"x"), manifest, OCI_MANIFEST))

        # deletes
        t.record("delete-manifest-by-digest", http.delete(f"/v2/{name}/manifests/{digest}"))
        t.record("get-deleted-by-digest", c.get_manifest(name, digest))
        t.record("get-deleted-by-tag", c.get_manifest(name, "v1"))
        t.record("get-untouched-after-delete", c.get_manifest(name, second_digest))
        r = http.get(f"/v2/{name}/tags/list")
        t.record("tags-after-delete", r, tags=sorted(set(r.json().get("tags") or []) & {"v1", "v2"}))
        t.record("delete-deleted-manifest", http.delete(f"/v2/{name}/manifests/{digest}"))
        t.record("delete-blob", http.delete(f"/v2/{name}/blobs/{sha256(blob_a)}"))
        t.record("head-deleted-blob", http.head(f"/v2/{name}/blobs/{sha256(blob_a)}"))
        t.record("head-blob-still-in-mirror", http.head(f"/v2/{other}/blobs/{sha256(blob_a)}"))
        t.record("delete-unknown-blob", http.delete(f"/v2/{name}/blobs/{sha256(b'nope')}"))
    return t


@pytest.fixture(scope="module")
def transcripts(peer, berth) -> dict[str, Transcript]:
    name = unique("parity/app")
    return {"peer": run_session(peer.url, name), "berth": run_session(berth.url, name, berth.auth)}


def test_berth_answers_a_scripted_push_pull_session_like_the_peer(transcripts):
    peer, berth = transcripts["peer"].steps, transcripts["berth"].steps
    assert list(peer) == list(berth)
    differences = {
        label: {"peer": peer[label], "berth": berth[label]}
        for label in peer
        if label not in DIVERGENCES and peer[label] != berth[label]
    }
    assert not differences, pprint.pformat(differences, width=140)


def test_every_listed_divergence_is_still_a_difference(transcripts):
    """A divergence that the peer no longer shows must be dropped from the list (keeps the list honest)."""
    peer, berth = transcripts["peer"].steps, transcripts["berth"].steps
    same = [label for label in DIVERGENCES if peer[label] == berth[label]]
    assert not same, f"listed as divergences but answered alike: {same}"


def test_berth_answers_the_spec_where_the_peer_diverges(transcripts):
    berth = transcripts["berth"].steps
    assert berth["monolithic-post"] == {"status": 201, "digest": berth["head-blob"]["digest"]}
    assert berth["unknown-upload-status"] == {"status": 404, "codes": ["BLOB_UPLOAD_UNKNOWN"]}
    assert berth["out-of-order-patch"] == {"status": 416, "codes": ["RANGE_INVALID"]}
    assert berth["status-after-out-of-order-patch"] == {"status": 204, "range": "0-99"}
    assert berth["mount-without-from"]["status"] == 201
    assert berth["push-manifest-with-tag-params"]["status"] == 201
    assert berth["push-manifest-with-tag-params"]["oci_tags"] == ["t1", "t2"]
    assert berth["tags-after-tag-params"]["tags"] == ["t1", "t2", "v1", "v2"]
    assert berth["tags-page-1"]["tags"] == ["t1"] and berth["tags-page-1"]["link"] is True
    assert berth["tags-page-2"]["tags"] == ["v1"]
    assert berth["tags-n-0"]["tags"] == []
    assert berth["referrers"]["status"] == 200
    assert berth["delete-blob"]["status"] == 202
    for step in ("get-invalid-reference", "delete-invalid-reference"):
        assert berth[step] == {"status": 404, "codes": ["MANIFEST_UNKNOWN"]}, step
    assert berth["head-invalid-reference"] == {"status": 404, "type": "application/json"}
    assert berth["get-oci-manifest-without-accept"]["type"] == OCI_MANIFEST
    assert berth["push-referrer"]["subject"] == berth["get-manifest-by-digest"]["digest"]
