"""`berth sign` and `berth verify` as real programs against a real berth, and with skopeo on the other
side: skopeo verifies berth's cosign signatures, berth reads skopeo's."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AUTH_FILE, BERTH

from .helpers import tiny_alpine_image, unique, write_oci_layout
from .test_skopeo import copy


#: SQLite only (make test's time): signing and verifying happen in the client and in berth's verifier: the database decides nothing there
pytestmark = pytest.mark.sqlite_only


PROJECT = "signed"
PASSWORD = "correct horse"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def berth_run(
    *args: str, cwd: Path | None = None, password: str | None = PASSWORD, auth_file: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """The berth program with COSIGN_PASSWORD (or none), no terminal, and only `auth_file`'s stored
    credentials (none by default: HOME points nowhere useful)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COSIGN_PASSWORD", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG",
                                                             "XDG_RUNTIME_DIR")}
    env["HOME"] = str(cwd or Path("/nonexistent"))
    if auth_file is not None:
        env["REGISTRY_AUTH_FILE"] = str(auth_file)
    if password is not None:
        env["COSIGN_PASSWORD"] = password
    return subprocess.run([BERTH, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, check=False)


def assert_one_line_failure(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("berth: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory) -> Path:
    """cosign.key / cosign.pub made by `berth sign generate-key-pair` (the folder holding them)."""
    folder = tmp_path_factory.mktemp("keys")
    made = berth_run("sign", "generate-key-pair", cwd=folder)
    assert made.returncode == 0, made.stderr
    return folder


@pytest.fixture
def pushed(berth, skopeo, tmp_path) -> Iterator[tuple[str, str]]:
    """A fresh image in berth (pushed by skopeo): (`host/project/repo`, its digest)."""
    berth.create_project(PROJECT)
    image = tiny_alpine_image(marker=unique("sign"))
    layout = write_oci_layout(tmp_path / "image", {"v1": image})
    repository = f"{berth.host}/{unique(f'{PROJECT}/app')}"
    copy(skopeo, f"oci:{layout}:v1", f"docker://{repository}:1", tmp_path)
    yield repository, image.digest


def creds(berth) -> list[str]:
    return ["--creds", ":".join(berth.auth), "--plain-http"]


def sign(berth, image: str, key_folder: Path, *extra: str) -> str:
    """`berth sign IMAGE` with the key in `key_folder` as admin; what it printed."""
    signed = berth_run("sign", image, "--key", str(key_folder / "cosign.key"), *extra, *creds(berth))
    assert signed.returncode == 0, signed.stderr
    return signed.stdout.strip()


def accessories(berth, repository: str, digest: str) -> list[tuple[str, str]]:
    _, project, name = repository.split("/", 2)
    with berth.client() as api:
        response = api.get(f"/api/v2.0/projects/{project}/repositories/{name}/artifacts/{digest}",
                           params={"with_accessory": "true"})
    assert response.status_code == 200, response.text
    return sorted((a["type"], a["digest"]) for a in response.json().get("accessories") or [])


def test_generate_key_pair_writes_an_encrypted_cosign_key_only_its_owner_reads(key_pair) -> None:
    from berth.sign.keys import load_private_key, public_key_pem

    private = key_pair / "cosign.key"
    assert private.read_bytes().startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert private.stat().st_mode & 0o077 == 0
    key = load_private_key(private.read_bytes(), PASSWORD.encode())
    assert public_key_pem(key) == (key_pair / "cosign.pub").read_bytes()
    again = berth_run("sign", "generate-key-pair", cwd=key_pair)
    assert_one_line_failure(again, 1, "exists")


def test_sign_pushes_a_sig_tag_that_berth_shows_as_a_cosign_accessory(berth, pushed, key_pair, tmp_path) -> None:
    repository, digest = pushed
    name = repository.split("/", 1)[1]
    tag = "sha256-" + digest.removeprefix("sha256:") + ".sig"
    assert sign(berth, f"{repository}:1", key_pair) == f"{repository}:{tag}"
    with berth.client() as api:
        response = api.get(f"/v2/{name}/manifests/{tag}")
        assert response.status_code == 200, response.text
        manifest = response.json()
        [layer] = manifest["layers"]
        assert layer["mediaType"] == SIMPLESIGNING and "dev.cosignproject.cosign/signature" in layer["annotations"]
        payload = json.loads(api.get(f"/v2/{name}/blobs/{layer['digest']}").content)
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    assert payload["critical"]["identity"]["docker-reference"] == repository
    signature_digest = response.headers["Docker-Content-Digest"]
    assert accessories(berth, repository, digest) == [("signature.cosign", signature_digest)]

    # the same key again: nothing new; another key: a second layer in the same manifest, as cosign does
    again = berth_run("sign", f"{repository}@{digest}", "--key", str(key_pair / "cosign.key"), *creds(berth))
    assert again.returncode == 0 and "already signed" in again.stderr
    other = tmp_path  # a key pair of its own for each database's run
    assert berth_run("sign", "generate-key-pair", cwd=other).returncode == 0
    sign(berth, f"{repository}:1", other)
    with berth.client() as api:
        assert len(api.get(f"/v2/{name}/manifests/{tag}").json()["layers"]) == 2


def test_sign_format_bundle_pushes_a_referrer_that_berth_shows_as_a_cosign_accessory(berth, pushed, key_pair) -> None:
    repository, digest = pushed
    name = repository.split("/", 1)[1]
    reference, _, referrer = sign(berth, f"{repository}:1", key_pair, "--format", "bundle").partition("@")
    assert reference == repository
    with berth.client() as api:
        listed = api.get(f"/v2/{name}/referrers/{digest}").json()["manifests"]
        assert [(m["digest"], m["artifactType"]) for m in listed] == [(referrer, BUNDLE)]
        assert listed[0]["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
        manifest = api.get(f"/v2/{name}/manifests/{referrer}").json()
    assert manifest["subject"]["digest"] == digest
    bundle_layer = manifest["layers"][0]
    assert bundle_layer["mediaType"] == BUNDLE
    assert accessories(berth, repository, digest) == [("signature.cosign", referrer)]


def _skopeo_config(tmp_path: Path, berth, public_key: Path) -> tuple[Path, Path]:
    """A containers-policy.json trusting `public_key` for berth's `signed` project (anything else is
    accepted unchecked) and a registries.d folder that makes skopeo use sigstore attachments there."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"docker": {f"{berth.host}/{PROJECT}": [
            {"type": "sigstoreSigned", "keyPath": str(public_key), "signedIdentity": {"type": "matchRepository"}},
        ]}},
    }))
    registries = tmp_path / "registries.d"
    registries.mkdir()
    (registries / "berth.yaml").write_text(f"docker:\n  {berth.host}:\n    use-sigstore-attachments: true\n")
    return policy, registries


def run_skopeo(skopeo: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """skopeo with berth's credentials; skips the test where skopeo was built without sigstore support
    (Debian patches it out of its skopeo 1.9: "Debian-local change: sigstore disabled")."""
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(AUTH_FILE)}
    result = subprocess.run([skopeo, "--tmpdir", str(tmp_path), *args], capture_output=True, text=True, timeout=120,
                            env=env, check=False)
    if "sigstore disabled" in result.stderr:
        pytest.skip(f"this skopeo has no sigstore support: {result.stderr.strip()[-120:]}")
    return result


def test_skopeo_verifies_berths_tag_signature_and_refuses_an_unsigned_image(
    berth, skopeo, pushed, key_pair, tmp_path,
) -> None:
    repository, _ = pushed
    sign(berth, f"{repository}:1", key_pair)
    policy, registries = _skopeo_config(tmp_path, berth, key_pair / "cosign.pub")
    pulled = run_skopeo(skopeo, tmp_path, "--policy", str(policy), "--registries.d", str(registries), "copy",
                        "--src-tls-verify=false", f"docker://{repository}:1", f"dir:{tmp_path / 'out'}")
    assert pulled.returncode == 0, pulled.stderr

    unsigned = tiny_alpine_image(marker=unique("unsigned"))
    layout = write_oci_layout(tmp_path / "unsigned", {"v1": unsigned})
    other = f"{berth.host}/{unique(f'{PROJECT}/unsigned')}"
    copy(skopeo, f"oci:{layout}:v1", f"docker://{other}:1", tmp_path)
    refused = run_skopeo(skopeo, tmp_path, "--policy", str(policy), "--registries.d", str(registries), "copy",
                         "--src-tls-verify=false", f"docker://{other}:1", f"dir:{tmp_path / 'out2'}")
    assert refused.returncode != 0
    assert "signature" in refused.stderr.lower(), refused.stderr

    # signed by a key the policy does not trust: refused too
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    assert berth_run("sign", "generate-key-pair", cwd=stranger).returncode == 0
    sign(berth, f"{other}:1", stranger)
    still = run_skopeo(skopeo, tmp_path, "--policy", str(policy), "--registries.d", str(registries), "copy",
                       "--src-tls-verify=false", f"docker://{other}:1", f"dir:{tmp_path / 'out3'}")
    assert still.returncode != 0


def test_skopeos_sigstore_signature_is_a_cosign_accessory_in_berth(berth, skopeo, key_pair, tmp_path) -> None:
    berth.create_project(PROJECT)
    image = tiny_alpine_image(marker=unique("skopeo-signed"))
    layout = write_oci_layout(tmp_path / "image", {"v1": image})
    repository = f"{berth.host}/{unique(f'{PROJECT}/by-skopeo')}"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSWORD)
    policy, registries = _skopeo_config(tmp_path, berth, key_pair / "cosign.pub")
    pushed = run_skopeo(skopeo, tmp_path, "--policy", str(policy), "--registries.d", str(registries), "copy",
                        "--dest-tls-verify=false", "--sign-by-sigstore-private-key", str(key_pair / "cosign.key"),
                        "--sign-passphrase-file", str(passphrase), f"oci:{layout}:v1", f"docker://{repository}:1")
    assert pushed.returncode == 0, pushed.stderr
    [(kind, _)] = accessories(berth, repository, image.digest)
    assert kind == "signature.cosign"
    verified = berth_run("verify", f"{repository}:1", "--key", str(key_pair / "cosign.pub"), *creds(berth))
    assert verified.returncode == 0, (verified.stdout, verified.stderr)
    assert verified.stdout.startswith("verified\tcosign\t")


def test_verify_accepts_both_formats_with_the_right_key_only(berth, pushed, key_pair, tmp_path) -> None:
    repository, digest = pushed
    for signature_format in ("tag", "bundle"):
        sign(berth, f"{repository}:1", key_pair, "--format", signature_format)
    public = (key_pair / "cosign.pub").read_text()
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"mode": "enforce", "cosign_public_keys": [public]}))
    verified = berth_run("verify", f"{repository}:1", "--policy", str(policy), *creds(berth))
    assert verified.returncode == 0, (verified.stdout, verified.stderr)
    lines = sorted(line.split("\t")[:2] for line in verified.stdout.splitlines())
    assert lines == [["verified", "cosign"], ["verified", "cosign-bundle"]]

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    assert berth_run("sign", "generate-key-pair", cwd=stranger).returncode == 0
    refused = berth_run("verify", f"{repository}@{digest}", "--key", str(stranger / "cosign.pub"), *creds(berth))
    assert_one_line_failure(refused, 1, "verifies")
    assert [line.split("\t")[0] for line in refused.stdout.splitlines()] == ["failed", "failed"]


def test_verify_reads_an_oci_layout_holding_the_image_and_its_sig_tag(
    berth, skopeo, pushed, key_pair, tmp_path,
) -> None:
    repository, _ = pushed
    tag = sign(berth, f"{repository}:1", key_pair).rsplit(":", 1)[1]
    layout = tmp_path / "layout"
    copy(skopeo, f"docker://{repository}:1", f"oci:{layout}:1", tmp_path)
    copy(skopeo, f"docker://{repository}:{tag}", f"oci:{layout}:{tag}", tmp_path)
    verified = berth_run("verify", f"oci:{layout}:1", "--key", str(key_pair / "cosign.pub"))
    assert verified.returncode == 0, (verified.stdout, verified.stderr)


def test_sign_pushes_a_bundle_to_a_registry_without_the_referrers_api_under_the_referrers_tag(
    peer, skopeo, key_pair, tmp_path,
) -> None:
    image = tiny_alpine_image(marker=unique("peer"))
    layout = write_oci_layout(tmp_path / "image", {"v1": image})
    repository = f"{peer.host}/{unique('signed/app')}"
    copy(skopeo, f"oci:{layout}:v1", f"docker://{repository}:1", tmp_path)
    for signature_format in ("bundle", "tag"):
        signed = berth_run("sign", f"{repository}:1", "--key", str(key_pair / "cosign.key"), "--format",
                           signature_format, "--plain-http")
        assert signed.returncode == 0, signed.stderr
    name = repository.split("/", 1)[1]
    referrer = signed_bundle = None
    with peer.client() as api:
        index = api.get(f"/v2/{name}/manifests/sha256-{image.digest.removeprefix('sha256:')}",
                        headers={"Accept": "application/vnd.oci.image.index.v1+json"})
        assert index.status_code == 200, index.text
        [entry] = index.json()["manifests"]
        assert entry["artifactType"] == BUNDLE
        referrer = api.get(f"/v2/{name}/manifests/{entry['digest']}",
                           headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
        signed_bundle = referrer["subject"]["digest"]
    assert signed_bundle == image.digest
    verified = berth_run("verify", f"{repository}:1", "--key", str(key_pair / "cosign.pub"), "--plain-http")
    assert verified.returncode == 0, (verified.stdout, verified.stderr)
    assert sorted(line.split("\t")[1] for line in verified.stdout.splitlines()) == ["cosign", "cosign-bundle"]


def test_sign_uses_the_credentials_skopeo_login_stored(berth, pushed, key_pair) -> None:
    repository, digest = pushed
    signed = berth_run("sign", f"{repository}:1", "--key", str(key_pair / "cosign.key"), "--plain-http",
                       auth_file=AUTH_FILE)
    assert signed.returncode == 0, signed.stderr
    assert accessories(berth, repository, digest)[0][0] == "signature.cosign"


def test_verify_of_an_unsigned_image_fails_with_one_line(berth, pushed, key_pair) -> None:
    repository, digest = pushed
    result = berth_run("verify", f"{repository}:1", "--key", str(key_pair / "cosign.pub"), *creds(berth))
    assert_one_line_failure(result, 1, "no signature", digest)


def test_bad_input_is_one_line_never_a_traceback(berth, pushed, key_pair, tmp_path) -> None:
    repository, _ = pushed
    key = str(key_pair / "cosign.key")
    assert_one_line_failure(berth_run("sign", f"{repository}:1", "--key", str(tmp_path / "none.key"), *creds(berth)),
                            2, "cannot read the key")
    assert_one_line_failure(berth_run("sign", f"{repository}:1", "--key", key, *creds(berth), password="wrong"),
                            1, "wrong password")
    assert_one_line_failure(berth_run("sign", f"{repository}:1", "--key", key, *creds(berth), password=None),
                            2, "COSIGN_PASSWORD")
    assert_one_line_failure(berth_run("sign", f"{repository}:nope", "--key", key, *creds(berth)), 1, "not found")
    assert_one_line_failure(berth_run("sign", f"{repository}:1", "--key", key, "--plain-http",
                                      auth_file=tmp_path / "none.json"), 1, "authentication required")
    assert_one_line_failure(berth_run("sign", f"{repository}:1", "--key", key, "--creds", "admin:wrong",
                                      "--plain-http"), 1, "refused")
    assert_one_line_failure(berth_run("sign", "no-host", "--key", key), 2)
    assert_one_line_failure(berth_run("verify", f"{repository}:1", *creds(berth)), 2, "--policy")
    bad_policy = tmp_path / "policy.json"
    bad_policy.write_text('{"mode": "enforce", "cosign_public_keys": ["not a key"]}')
    assert_one_line_failure(berth_run("verify", f"{repository}:1", "--policy", str(bad_policy), *creds(berth)), 2,
                            "cosign_public_keys")
    assert_one_line_failure(berth_run("verify", f"oci:{tmp_path}", "--key", str(key_pair / "cosign.pub")), 1,
                            "not an OCI image layout")


def _layout_with_signatures(root: Path, signed_dir: Path) -> Path:
    """An OCI layout holding a containers/image fixture's signed manifest (tag `1`) and its
    `signature-N` files put back into the `sha256-<hex>.sig` manifest they were copied from."""
    import base64
    import hashlib

    from .helpers import OCI_MANIFEST, canonical_json, descriptor

    manifest = (signed_dir / "manifest.json").read_bytes()
    layers, blobs = [], [manifest, b"{}"]
    for signature in sorted(signed_dir.glob("signature-*")):
        document = json.loads(signature.read_bytes().split(b"\n", 1)[1])
        payload = base64.b64decode(document["payload"])
        blobs.append(payload)
        layers.append(descriptor(document["mimeType"], payload, annotations=document["annotations"]))
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    sig = canonical_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": descriptor("application/vnd.oci.image.config.v1+json", b"{}"), "layers": layers})
    (root / "blobs" / "sha256").mkdir(parents=True)
    for blob in [*blobs, sig]:
        (root / "blobs" / "sha256" / hashlib.sha256(blob).hexdigest()).write_bytes(blob)
    media_type = json.loads(manifest).get("mediaType", OCI_MANIFEST)
    entries = [descriptor(media_type, manifest, annotations={"org.opencontainers.image.ref.name": "1"}),
               descriptor(OCI_MANIFEST, sig, annotations={
                   "org.opencontainers.image.ref.name": "sha256-" + digest.removeprefix("sha256:") + ".sig"})]
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_bytes(canonical_json({"schemaVersion": 2, "manifests": entries}))
    return root


@pytest.mark.parametrize("made_by", ["dir-img-cosign-valid", "dir-img-cosign-valid-with-tag"])
def test_verify_accepts_real_cosign_and_skopeo_signatures(made_by: str, tmp_path) -> None:
    """dir-img-cosign-valid was signed by cosign, -with-tag by skopeo (containers/image's fixtures)."""
    fixtures = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "signing" / "cosign-containers-image"
    layout = _layout_with_signatures(tmp_path / "layout", fixtures / made_by)
    verified = berth_run("verify", f"oci:{layout}:1", "--key", str(fixtures / "cosign.pub"))
    assert verified.returncode == 0, (verified.stdout, verified.stderr)
    assert verified.stdout.startswith("verified\tcosign\t")
    stranger = berth_run("verify", f"oci:{layout}:1", "--key", str(fixtures / "cosign2.pub"))
    assert_one_line_failure(stranger, 1, "verifies")


def test_the_readme_example_a_robot_signs_in_ci_and_the_enforced_pull_follows(berth, skopeo, key_pair, tmp_path) -> None:
    """The README's worked example: an enforcing project refuses the pull of an unsigned image (412),
    a CI robot with push access signs it with `berth sign` (its own pull of the tag passes the policy,
    as cosign's does in Harbor), the pull then succeeds, and an image pushed over the tag is refused again."""
    project = unique("enforced")
    berth.create_project(project)
    with berth.client() as api:
        policy = {"mode": "enforce", "cosign_public_keys": [(key_pair / "cosign.pub").read_text()]}
        assert api.put(f"/api/v2.0/projects/{project}/trust-policy", json=policy).status_code == 200
        made = api.post("/api/v2.0/robots", json={
            "name": "ci", "level": "project", "duration": -1, "permissions": [{
                "kind": "project", "namespace": project,
                "access": [{"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "push"}],
            }]})
        assert made.status_code == 201, made.text
    robot = f"{made.json()['name']}:{made.json()['secret']}"
    repository = f"{berth.host}/{project}/app"

    def push(marker: str) -> None:
        layout = write_oci_layout(tmp_path / marker, {"v1": tiny_alpine_image(marker=unique(marker))})
        copy(skopeo, f"oci:{layout}:v1", f"docker://{repository}:1", tmp_path, "--dest-creds", robot)

    def inspect() -> subprocess.CompletedProcess[str]:
        return subprocess.run([skopeo, "--tmpdir", str(tmp_path), "inspect", "--tls-verify=false", "--creds", robot,
                               f"docker://{repository}:1"], capture_output=True, text=True, timeout=60, check=False)

    push("first")
    refused = inspect()
    assert refused.returncode != 0 and "no signature" in refused.stderr, refused.stderr
    signed = berth_run("sign", f"{repository}:1", "--key", str(key_pair / "cosign.key"), "--creds", robot,
                       "--plain-http")
    assert signed.returncode == 0, signed.stderr
    assert inspect().returncode == 0
    verified = berth_run("verify", f"{repository}:1", "--key", str(key_pair / "cosign.pub"), "--creds", robot,
                         "--plain-http")
    assert verified.returncode == 0 and verified.stdout.startswith("verified\tcosign\t"), verified.stdout
    push("second")
    again = inspect()
    assert again.returncode != 0 and "no signature" in again.stderr, again.stderr
