"""sigstore-js against a real berth: a Sigstore bundle made with @sigstore/sign and a local key
(tests/integration/sigstore_js/sign_with_key.mjs), attached to an image by the npm `@sigstore/cli`
(`sigstore attach`, OCI 1.1 referrer), is found through the referrers API, listed by Harbor's API as a
verified cosign signature, verified by `berth verify`, and opens the pull in an enforcing project.

Neither program leaves the machine: the signer has no witness (no Fulcio, no Rekor) and `sigstore attach`
talks to the registry only (no TUF); a proxy on a closed port catches any other request."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import REPO, Server

from .helpers import OCI_INDEX, V2, build_image, unique
from .test_sign_cli import berth_run


#: SQLite only (make test's time): the bundles are verified by berth's verifier: the database decides nothing there
pytestmark = pytest.mark.sqlite_only


SIGN_SCRIPT = Path(__file__).with_name("sigstore_js") / "sign_with_key.mjs"
SIGSTORE_CLI = REPO / ".tools" / "node_modules" / ".bin" / "sigstore"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_V02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
PROVENANCE = "https://slsa.dev/provenance/v1"
VIOLATION = "PROJECTPOLICYVIOLATION"


@pytest.fixture(scope="module")
def tools() -> None:
    node = shutil.which("node")
    if node is None or not SIGSTORE_CLI.exists():
        message = "node or @sigstore/cli is not installed (scripts/install-test-tools installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class KeyPair:
    private: Path
    public: Path

    @property
    def public_pem(self) -> str:
        return self.public.read_text()


def key_pair(folder: Path) -> KeyPair:
    """An ECDSA P-256 key pair in PEM files (PKCS#8, SPKI), as Node's crypto reads them."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / "private.pem", folder / "public.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return KeyPair(private, public)


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> KeyPair:
    return key_pair(tmp_path_factory.mktemp("sigstore-js-key"))


def node_env(home: Path) -> dict[str, str]:
    """No Docker credentials of the machine, and every request that is not to 127.0.0.1 sent to a
    closed port (npm's fetch reads these proxy variables), so that going online fails."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("https_proxy", "http_proxy", "proxy", "no_proxy")}
    env.update(HOME=str(home), DOCKER_CONFIG=str(home / ".docker"), https_proxy="http://127.0.0.1:9",
               http_proxy="http://127.0.0.1:9", no_proxy="127.0.0.1")
    return env


def sign(key: KeyPair, digest: str, name: str, out: Path, *extra: str) -> dict[str, Any]:
    """The bundle sign_with_key.mjs writes for `digest` (and the file `out` holding it)."""
    made = subprocess.run(["node", str(SIGN_SCRIPT), "--key", str(key.private), "--digest", digest, "--name", name,
                           "--out", str(out), *extra], capture_output=True, text=True, timeout=60,
                          env=node_env(out.parent), stdin=subprocess.DEVNULL, check=False)
    assert made.returncode == 0, made.stderr
    return json.loads(out.read_text())


def attach(berth: Server, image: str, bundle: Path, user: tuple[str, str]) -> str:
    """`sigstore attach IMAGE --attestation BUNDLE -u USER -p PASS`; the attached manifest's digest."""
    attached = subprocess.run([str(SIGSTORE_CLI), "attach", image, "--attestation", str(bundle), "-u", user[0],
                               "-p", user[1]], capture_output=True, text=True, timeout=120,
                              env=node_env(bundle.parent), stdin=subprocess.DEVNULL, check=False)
    assert attached.returncode == 0, (attached.stdout, attached.stderr)
    # "Artifact attached to image: sha256:…" (oclif's logToStderr)
    return attached.stderr.strip().rsplit(" ", 1)[-1]


@dataclass
class Target:
    """An image pushed into a project whose trust policy enforces cosign signatures by `key`."""

    berth: Server
    project: str
    repository: str
    digest: str
    signer: tuple[str, str]

    @property
    def reference(self) -> str:
        return f"{self.berth.host}/{self.repository}@{self.digest}"

    def pull(self) -> httpx.Response:
        with V2(self.berth.url, auth=self.signer) as v2:
            return v2.get_manifest(self.repository, self.digest)

    def accessories(self) -> list[dict[str, Any]]:
        with self.berth.client() as api:
            found = api.get(f"/api/v2.0/projects/{self.project}/repositories/app/artifacts/{self.digest}",
                            params={"with_accessory": "true"})
        assert found.status_code == 200, found.text
        return found.json()["accessories"]


def developer(api: httpx.Client, project: str) -> tuple[str, str]:
    """A user who is a developer (pull, push) of `project`, as a signer is: (name, password)."""
    name, password = unique("signer"), "Passw0rd-sigstore"
    created = api.post("/api/v2.0/users", json={"username": name, "email": f"{name}@example.test",
                                                "password": password, "realname": name})
    assert created.status_code == 201, created.text
    member = api.post(f"/api/v2.0/projects/{project}/members", json={"role_id": 2, "member_user": {"username": name}})
    assert member.status_code == 201, member.text
    return name, password


@pytest.fixture
def target(tools, berth: Server, key: KeyPair) -> Iterator[Target]:
    project = unique("sigstorejs")
    with berth.client() as api:
        created = api.post("/api/v2.0/projects", json={"project_name": project, "metadata": {"public": "false"}})
        assert created.status_code == 201, created.text
        policy = api.put(f"/api/v2.0/projects/{project}/trust-policy",
                         json={"mode": "enforce", "cosign_public_keys": [key.public_pem]})
        assert policy.status_code == 200, policy.text
        signer = developer(api, project)
    image = build_image(9101)
    with V2(berth.url, auth=berth.auth) as v2:
        v2.push_image(f"{project}/app", image, "v1")
    yield Target(berth, project, f"{project}/app", image.digest, signer)


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["errors"][0] if response.content else {}
    return response.status_code, error.get("code", ""), error.get("message", "")


def test_a_bundle_attached_by_sigstore_js_is_a_verified_referrer_that_opens_the_pull(target, key, tmp_path):
    status, code, message = refusal(target.pull())
    assert (status, code) == (412, VIOLATION) and "no signature" in message, message

    bundle = sign(key, target.digest, f"{target.berth.host}/{target.repository}", tmp_path / "bundle.json")
    assert bundle["mediaType"] == BUNDLE_V03
    assert bundle["verificationMaterial"]["publicKey"]["hint"]  # cosign's hint, as the script computes it
    # the signer is a developer: sigstore-js HEADs the unsigned image first, which the policy lets through
    attached = attach(target.berth, target.reference, tmp_path / "bundle.json", target.signer)

    with V2(target.berth.url, auth=target.signer) as v2:
        referrers = v2.request("GET", f"/v2/{target.repository}/referrers/{target.digest}")
        assert referrers.status_code == 200 and referrers.headers["content-type"] == OCI_INDEX
        [listed] = referrers.json()["manifests"]
        assert (listed["digest"], listed["artifactType"]) == (attached, BUNDLE_V03)
        filtered = v2.request("GET", f"/v2/{target.repository}/referrers/{target.digest}",
                              params={"artifactType": BUNDLE_V03})
        assert [m["digest"] for m in filtered.json()["manifests"]] == [attached]
        # berth answered OCI-Subject and serves referrers: no fallback referrers tag was written
        fallback = v2.get_manifest(target.repository, target.digest.replace(":", "-"))
        assert fallback.status_code == 404, fallback.text

    [accessory] = target.accessories()
    assert (accessory["digest"], accessory["type"]) == (attached, "signature.cosign")
    assert accessory["verification"]["verified"] is True, accessory["verification"]
    assert accessory["verification"]["reason"] == "bundle verified with a trusted key"

    assert target.pull().status_code == 200
    verified = berth_run("verify", target.reference, "--key", str(key.public), "--plain-http",
                         "--creds", ":".join(target.berth.auth or ()))
    assert verified.returncode == 0, (verified.stdout, verified.stderr)
    assert verified.stdout.startswith("verified\tcosign-bundle\t"), verified.stdout


def test_a_bundle_signed_by_another_key_is_refused_with_the_reason(target, key, tmp_path):
    stranger = key_pair(tmp_path / "stranger")
    sign(stranger, target.digest, target.repository, tmp_path / "bundle.json")
    attached = attach(target.berth, target.reference, tmp_path / "bundle.json", target.signer)

    status, code, message = refusal(target.pull())
    assert (status, code) == (412, VIOLATION), message
    assert "no trusted key verifies the signature" in message, message
    [accessory] = target.accessories()
    assert (accessory["digest"], accessory["type"]) == (attached, "signature.cosign")
    assert accessory["verification"]["verified"] is False
    assert accessory["verification"]["reason"] == "no trusted key verifies the signature"
    refused = berth_run("verify", target.reference, "--key", str(key.public), "--plain-http",
                        "--creds", ":".join(target.berth.auth or ()))
    assert refused.returncode == 1 and refused.stdout.startswith("failed\tcosign-bundle\t"), refused.stdout


def test_a_legacy_bundle_without_a_key_hint_is_a_cosign_signature_too(target, key, tmp_path):
    """sigstore-js's legacyCompatibility spelling (`+json;version=0.2`), which `sigstore attach` takes as
    the referrer's artifactType, and an empty public key hint (sigstore-js then writes `publicKey: {}`)."""
    bundle = sign(key, target.digest, target.repository, tmp_path / "bundle.json", "--legacy", "--hint", "")
    assert bundle["mediaType"] == BUNDLE_V02 and bundle["verificationMaterial"]["publicKey"] == {}
    attached = attach(target.berth, target.reference, tmp_path / "bundle.json", target.signer)

    with V2(target.berth.url, auth=target.signer) as v2:
        listed = v2.request("GET", f"/v2/{target.repository}/referrers/{target.digest}").json()["manifests"]
    assert [(m["digest"], m["artifactType"]) for m in listed] == [(attached, BUNDLE_V02)]
    [accessory] = target.accessories()
    assert accessory["type"] == "signature.cosign" and accessory["verification"]["verified"] is True
    assert target.pull().status_code == 200


def test_an_attestation_attached_by_sigstore_js_is_not_a_signature(target, key, tmp_path):
    sign(key, target.digest, target.repository, tmp_path / "bundle.json", "--predicate-type", PROVENANCE)
    attach(target.berth, target.reference, tmp_path / "bundle.json", target.signer)

    status, code, message = refusal(target.pull())
    assert (status, code) == (412, VIOLATION) and "attestation" in message, message
    [accessory] = target.accessories()
    assert accessory["verification"]["verified"] is False and accessory["verification"]["attestation"] is True
