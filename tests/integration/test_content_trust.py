"""Content trust on a real server: the trust policy API, Harbor's signature switches, and trust policies
in enforce and audit mode on manifest GET/HEAD, with cosign tag-scheme signatures made here."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import Server, start_berth

from .helpers import (
    OCI_MANIFEST,
    V2,
    Image,
    build_image,
    canonical_json,
    descriptor,
    unique,
)
from .test_audit_log import wait_audit
from .test_webhooks import FAST_JOBS, Receiver, create_policy, poll

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_ARTIFACT_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
VIOLATION = "PROJECTPOLICYVIOLATION"


@pytest.fixture(scope="module")
def trust_berth(tmp_path_factory) -> Iterator[Server]:
    server = start_berth(tmp_path_factory.mktemp("trust") / "data", dict(FAST_JOBS), projects=())
    yield server
    server.stop()


@pytest.fixture
def api(trust_berth: Server) -> Iterator[httpx.Client]:
    with trust_berth.client() as client:
        yield client


@pytest.fixture
def v2(trust_berth: Server) -> Iterator[V2]:
    with V2(trust_berth.url, auth=trust_berth.auth) as client:
        yield client


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def new_project(api: httpx.Client, **metadata: str) -> str:
    name = unique("trust")
    created = api.post("/api/v2.0/projects", json={"project_name": name, "metadata": metadata})
    assert created.status_code == 201, created.text
    return name


def put_policy(api: httpx.Client, project: str, policy: dict[str, Any]) -> httpx.Response:
    return api.put(f"/api/v2.0/projects/{project}/trust-policy", json=policy)


def enforcing_project(api: httpx.Client, key: ec.EllipticCurvePrivateKey) -> str:
    """A new project whose policy enforces cosign signatures by `key`."""
    project = new_project(api)
    assert put_policy(api, project, {"mode": "enforce", "cosign_public_keys": [public_pem(key)]}).status_code == 200
    return project


def cosign_signature(image: Image, repository: str, key: ec.EllipticCurvePrivateKey | None, *,
                     signature: str | None = None, payload: bytes | None = None, subject: bool = False) -> Image:
    """A cosign signature manifest of `image`: the simple-signing payload naming its digest, signed with
    `key` (or the given base64 `signature`), as cosign's tag scheme stores it (or as a referrer)."""
    payload = payload or canonical_json({
        "critical": {"identity": {"docker-reference": repository}, "image": {"docker-manifest-digest": image.digest},
                     "type": "cosign container image signature"}, "optional": None})
    if signature is None:
        assert key is not None
        signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    config = canonical_json({"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": []}})
    doc: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor(SIMPLE_SIGNING, payload, annotations={SIGNATURE_ANNOTATION: signature})],
    }
    if subject:
        doc["artifactType"] = COSIGN_ARTIFACT_SIG
        doc["subject"] = image.descriptor()
    return Image(canonical_json(doc), OCI_MANIFEST, [config, payload])


def sig_tag(image: Image) -> str:
    return image.digest.replace(":", "-") + ".sig"


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["errors"][0] if response.content else {}
    return response.status_code, error.get("code", ""), error.get("message", "")


# --- the policy API ------------------------------------------------------------------------------------


def test_policy_round_trips_and_a_bad_one_is_refused_keeping_the_old(api, key):
    project = new_project(api)
    url = f"/api/v2.0/projects/{project}/trust-policy"
    default = api.get(url)
    assert default.status_code == 200 and default.json()["mode"] == "off"
    assert default.json()["formats"] == ["cosign", "notation"]
    policy = {"mode": "enforce", "formats": ["cosign"], "cosign_public_keys": [public_pem(key)]}
    assert put_policy(api, project, policy).status_code == 200
    stored = api.get(url).json()
    assert {k: stored[k] for k in policy} == policy

    for bad, reason in (({"mode": "sometimes"}, "mode"), ({"mode": "enforce", "cosign_public_keys": ["x"]},
                                                        "not a PEM public key"),
                        ({"mode": "enforce", "surprise": 1}, "surprise")):
        refused = put_policy(api, project, bad)
        assert refused.status_code == 400, refused.text
        assert refused.json()["errors"][0]["code"] == "BAD_REQUEST" and reason in refused.json()["errors"][0]["message"]
    assert api.get(url).json() == stored
    by_id = api.get(f"/api/v2.0/projects/{api.get(f'/api/v2.0/projects/{project}').json()['project_id']}/trust-policy")
    assert by_id.json() == stored

    logs = wait_audit(api, f"resource={project},resource_type=trust_policy,operation=update", 1,
                      path="/api/v2.0/audit-logs")
    assert logs, "the trust policy change is audited"


def new_developer(api: httpx.Client, project: str) -> tuple[str, str]:
    """A user who is a developer (pull, push) of `project`: (name, password)."""
    name, password = unique("dev"), "Passw0rd-trust"
    assert api.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test", "password": password,
                                             "realname": name}).status_code == 201
    assert api.post(f"/api/v2.0/projects/{project}/members",
                    json={"role_id": 2, "member_user": {"username": name}}).status_code == 201
    return name, password


def test_a_developer_may_read_the_policy_but_not_change_it(trust_berth, api):
    project = new_project(api)
    with trust_berth.client(new_developer(api, project)) as developer:
        assert developer.get(f"/api/v2.0/projects/{project}/trust-policy").status_code == 200
        assert put_policy(developer, project, {"mode": "enforce"}).status_code == 403
    with trust_berth.client(None) as anonymous:
        assert put_policy(anonymous, project, {"mode": "enforce"}).status_code == 401
    assert api.get(f"/api/v2.0/projects/{project}/trust-policy").json()["mode"] == "off"


# --- Harbor's switches -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("switch", "family"), [("enable_content_trust_cosign", "cosign"),
                                                 ("enable_content_trust", "notation")])
def test_harbors_switch_refuses_an_image_without_that_signature(api, v2, switch, family):
    project = new_project(api, **{switch: "true"})
    repository = f"{project}/app"
    image = build_image(701)
    v2.push_image(repository, image, "v1")
    for method in ("GET", "HEAD"):
        response = v2.request(method, f"/v2/{repository}/manifests/v1")
        assert response.status_code == 412
    assert refusal(v2.get_manifest(repository, "v1")) == (412, VIOLATION, f"The image is not signed by {family}.")
    if family == "cosign":
        # presence is enough without a policy: any cosign signature, verified or not
        signature = cosign_signature(image, repository, None, signature="bm90IGEgc2lnbmF0dXJl")
        v2.push_image(repository, signature, sig_tag(image))
        assert v2.get_manifest(repository, "v1").status_code == 200
        assert v2.get_manifest(repository, sig_tag(image)).status_code == 200


# --- trust policies --------------------------------------------------------------------------------------


def test_enforce_refuses_an_unsigned_image_and_serves_signatures(api, v2, key):
    project = enforcing_project(api, key)
    repository = f"{project}/app"
    image = build_image(702)
    v2.push_image(repository, image, "v1")
    status, code, message = refusal(v2.get_manifest(repository, "v1"))
    assert (status, code) == (412, VIOLATION) and "no signature" in message
    assert v2.request("HEAD", f"/v2/{repository}/manifests/{image.digest}").status_code == 412
    # a signer pushes the signature (cosign reads the image first: its user agent with push bypasses)
    signature = cosign_signature(image, repository, key)
    v2.push_image(repository, signature, sig_tag(image))
    assert v2.get_manifest(repository, sig_tag(image)).status_code == 200


def test_a_signer_with_push_rights_reads_what_it_signs(trust_berth, api, v2, key):
    project = enforcing_project(api, key)
    repository = f"{project}/app"
    v2.push_image(repository, build_image(703), "v1")
    token = httpx.get(f"{trust_berth.url}/service/token", auth=new_developer(api, project), params={
        "service": "harbor-registry", "scope": f"repository:{repository}:pull,push"}).json()["token"]
    url = f"{trust_berth.url}/v2/{repository}/manifests/v1"
    for agent, status in (("cosign/v2.4.1 (linux; amd64)", 200), ("notation/1.2", 200), ("curl/8", 412)):
        response = httpx.get(url, headers={"Authorization": f"Bearer {token}", "User-Agent": agent})
        assert response.status_code == status, agent


def test_bad_signature_input_is_stored_and_never_a_500(api, v2, key):
    project = enforcing_project(api, key)
    repository = f"{project}/app"
    image = build_image(704)
    v2.push_image(repository, image, "v1")
    bad = [
        cosign_signature(image, repository, None, signature="%%% not base64 %%%"),
        cosign_signature(image, repository, None, signature="A" * 200_000, subject=True),
        cosign_signature(image, repository, None, signature="bm9wZQ==", payload=b"\xff not json", subject=True),
        cosign_signature(image, repository, None, signature="", payload=b"[1,2]", subject=True),
    ]
    v2.push_image(repository, bad[0], sig_tag(image))
    for signature in bad[1:]:
        v2.push_image(repository, signature)
    for _ in range(2):
        status, code, message = refusal(v2.get_manifest(repository, "v1"))
        assert (status, code) == (412, VIOLATION), message
    listed = api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts/v1",
                     params={"with_accessory": "true"})
    assert listed.status_code == 200 and len(listed.json()["accessories"]) == 4
    accessories = api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts/v1/accessories",
                          params={"q": "type=signature.cosign", "page_size": 3})
    assert accessories.status_code == 200 and accessories.headers["X-Total-Count"] == "4"
    assert len(accessories.json()) == 3 and {a["type"] for a in accessories.json()} == {"signature.cosign"}
    verdicts = [a.get("verification") or {} for a in listed.json()["accessories"]]
    assert all(v.get("verified") is False and v.get("reason") for v in verdicts), verdicts


def test_a_trusted_signature_opens_the_pull_and_an_untrusted_one_says_why(api, v2, key):
    project = enforcing_project(api, key)
    repository = f"{project}/app"
    signed, other = build_image(705), build_image(706)
    v2.push_image(repository, signed, "v1")
    v2.push_image(repository, cosign_signature(signed, repository, key), sig_tag(signed))
    assert v2.get_manifest(repository, "v1").status_code == 200
    assert v2.request("HEAD", f"/v2/{repository}/manifests/v1").status_code == 200

    stranger = ec.generate_private_key(ec.SECP256R1())
    v2.push_image(repository, other, "v2")
    v2.push_image(repository, cosign_signature(other, repository, stranger), sig_tag(other))
    status, code, message = refusal(v2.get_manifest(repository, "v2"))
    assert (status, code) == (412, VIOLATION) and "no signature" not in message and "key" in message, message

    # the tag moves to an unsigned image: refused again
    v2.push_image(repository, build_image(707), "v1")
    assert refusal(v2.get_manifest(repository, "v1"))[:2] == (412, VIOLATION)

    accessories = api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts/{signed.digest}",
                          params={"with_accessory": "true"}).json()["accessories"]
    verification = accessories[0]["verification"]
    assert verification["verified"] is True and verification["format"] == "cosign"
    assert verification["signer"].startswith("sha256:")
    tags = api.get(f"/api/v2.0/projects/{project}/repositories/app/artifacts",
                   params={"with_signature": "true"}).json()
    signed_by_digest = {a["digest"]: [t.get("signed") for t in a.get("tags") or []] for a in tags}
    # Go's omitempty, as Harbor answers: a false `signed` is left out
    assert signed_by_digest[other.digest] == [None]


def test_a_policy_change_is_applied_to_stored_verdicts_on_the_next_pull(api, v2, key):
    project = new_project(api)
    repository = f"{project}/app"
    image = build_image(708)
    v2.push_image(repository, image, "v1")
    v2.push_image(repository, cosign_signature(image, repository, key), sig_tag(image))
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert put_policy(api, project, {"mode": "enforce", "cosign_public_keys": [public_pem(stranger)]}).status_code == 200
    assert v2.get_manifest(repository, "v1").status_code == 412
    assert put_policy(api, project, {"mode": "enforce", "cosign_public_keys": [public_pem(key)]}).status_code == 200
    assert v2.get_manifest(repository, "v1").status_code == 200


def test_audit_mode_lets_the_pull_through_and_tells_once(trust_berth, api, v2):
    receiver = Receiver()
    try:
        project = new_project(api)
        create_policy(api, project, [{"type": "http", "address": receiver.url("/trust")}],
                      events=["CONTENT_TRUST_AUDIT"])
        assert put_policy(api, project, {"mode": "audit"}).status_code == 200
        repository = f"{project}/app"
        image = build_image(709)
        v2.push_image(repository, image, "v1")
        for _ in range(3):
            assert v2.get_manifest(repository, "v1").status_code == 200
        delivered = receiver.wait("/trust", 1)
        body = json.loads(delivered[0].body)
        assert body["type"] == "CONTENT_TRUST_AUDIT"
        assert body["event_data"]["resources"][0]["digest"] == image.digest
        assert "no signature" in body["event_data"]["custom_attributes"]["reason"]
        logs = poll(lambda: api.get("/api/v2.0/audit-logs", params={"page_size": 100}).json(),
                    lambda found: any(log["operation"] == "audit" for log in found))
        audited = [log for log in logs if log["operation"] == "audit" and log["resource_type"] == "content_trust"]
        assert [log["resource"] for log in audited] == [f"{repository}@{image.digest}"]
        assert len(receiver.wait("/trust", 1)) == 1
    finally:
        receiver.close()


def test_the_contract_operations_answer_in_harbors_error_shape(api):
    missing = api.get("/api/v2.0/projects/no-such-project-here/trust-policy")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NOT_FOUND"
    broken = api.put("/api/v2.0/projects/library/trust-policy", content=b"{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
