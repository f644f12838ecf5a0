"""`berth sign` and `berth verify`: cosign-compatible key pairs and signatures pushed to any OCI
registry, and offline verification of an image's signatures against a trust policy, without cosign."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from berth.sign.keys import SigningKey
    from berth.sign.model import SignatureArtifact, Subject, Verdict
    from berth.sign.policy import TrustPolicy
    from berth.sign.repositories import Layout, Registry

#: where a password comes from when no one is at a terminal (cosign's variable)
PASSWORD_ENV = "COSIGN_PASSWORD"
#: exit statuses: 1 the work failed (not found, refused, not verified), 2 the command cannot be right
FAILED, BAD_INPUT = 1, 2


class _SignGroup(TyperGroup):
    """`berth sign IMAGE …` is `berth sign image IMAGE …`: the group's default command, as cosign's
    `cosign sign IMAGE` stands beside `cosign generate-key-pair`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["image", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_SignGroup,
    help="cosign-compatible signing: `berth sign IMAGE --key cosign.key`, `berth sign generate-key-pair`.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


class SignatureFormat(str, Enum):
    tag = "tag"
    bundle = "bundle"


CredsOption = Annotated[
    str | None, typer.Option(help="USER:PASSWORD for the registry (a robot account works too); without it, what "
                             "skopeo/podman/docker login stored (REGISTRY_AUTH_FILE, auth.json, ~/.docker/config.json).",
                             show_default=False)
]
PlainHttpOption = Annotated[bool, typer.Option("--plain-http", help="Talk to the registry over plain HTTP.")]
TlsVerifyOption = Annotated[
    str, typer.Option("--tls-verify", metavar="true|false", help="Check the registry's TLS certificate; false also "
                      "allows plain HTTP when HTTPS does not answer (skopeo's flag: --tls-verify=false).")
]


def fail(message: str, code: int = FAILED) -> typer.Exit:
    """One `berth: …` line on stderr; raise the returned Exit."""
    typer.echo(f"berth: {' '.join(message.split())}", err=True)
    return typer.Exit(code)


@app.command("generate-key-pair")
def generate_key_pair(
    output_key_prefix: Annotated[str, typer.Option(help="Write PREFIX.key and PREFIX.pub.")] = "cosign",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
) -> None:
    """Make an ECDSA P-256 key pair as `cosign generate-key-pair` does: PREFIX.key (encrypted with a
    password from COSIGN_PASSWORD or asked for) and PREFIX.pub. cosign and skopeo read both."""
    from berth.sign.keys import encrypt_private_key, generate_key_pair, public_key_pem

    private, public = Path(f"{output_key_prefix}.key"), Path(f"{output_key_prefix}.pub")
    for path in (private, public):
        if path.exists() and not force:
            raise fail(f"{path} exists (use --force to overwrite it)")
    password = _password(confirm=True)
    key = generate_key_pair()
    try:
        _write_private(private, encrypt_private_key(key, password))
        public.write_bytes(public_key_pem(key))
    except OSError as error:
        raise fail(f"cannot write the key pair: {error}") from None
    typer.echo(f"Private key written to {private}")
    typer.echo(f"Public key written to {public}")


@app.command("image")
def sign_image(
    image: Annotated[str, typer.Argument(metavar="IMAGE", help="HOST/REPOSITORY:TAG or HOST/REPOSITORY@DIGEST "
                                         "(docker:// in front is fine).", show_default=False)],
    key: Annotated[Path, typer.Option(help="The private key (cosign.key); its password comes from COSIGN_PASSWORD "
                                      "or is asked for.", show_default=False)],
    signature_format: Annotated[SignatureFormat, typer.Option(
        "--format", help="tag: cosign's sha256-<hex>.sig tag (what cosign 2, skopeo and Harbor's cosign support "
        "read); bundle: cosign 3's Sigstore bundle pushed as an OCI 1.1 referrer.")] = SignatureFormat.tag,
    creds: CredsOption = None,
    plain_http: PlainHttpOption = False,
    tls_verify: TlsVerifyOption = "true",
) -> None:
    """Sign IMAGE with a cosign key (the tag is resolved to its digest first; the digest is what is
    signed) and push the signature to IMAGE's repository. Prints the signature's reference."""
    from berth.sign.repositories import RepositoryError, push_signature, resolve
    from berth.sign.signer import bundle_referrer, signature_tag, tag_signature

    target = _registry_target(image)
    signing_key = _signing_key(key)
    host, name, reference = target
    try:
        with _registry(host, name, creds, plain_http, tls_verify, push=True) as registry:
            subject = resolve(registry, reference)
            digest = subject["digest"]
            already = False
            if signature_format is SignatureFormat.tag:
                existing = registry.manifest(signature_tag(digest))
                signature = tag_signature(signing_key, f"{host}/{name}", digest, existing[1] if existing else None)
                already = signature is None
                if signature is not None:
                    push_signature(registry, signature, digest)
                shown = f"{host}/{name}:{signature_tag(digest)}"
            else:
                referrer = bundle_referrer(signing_key, f"{host}/{name}", subject, datetime.now(UTC))
                shown = f"{host}/{name}@{push_signature(registry, referrer, digest)}"
    except (RepositoryError, ValueError) as error:
        raise fail(f"cannot sign {image}: {error}") from None
    if already:
        typer.echo(f"{host}/{name}@{digest} is already signed with this key", err=True)
    typer.echo(shown)


def verify(
    image: Annotated[str, typer.Argument(metavar="IMAGE", help="HOST/REPOSITORY:TAG, HOST/REPOSITORY@DIGEST "
                                         "(docker:// in front is fine) or oci:PATH[:TAG] (an OCI image layout).",
                                         show_default=False)],
    policy: Annotated[Path | None, typer.Option(help="A trust policy (JSON, as PUT at /api/v2.0/projects/{p}/"
                                                   "trust-policy).", show_default=False)] = None,
    key: Annotated[Path | None, typer.Option(help="A cosign public key (cosign.pub): trust signatures made "
                                                "with it (with --policy: in addition to the policy's keys).",
                                                show_default=False)] = None,
    creds: CredsOption = None,
    plain_http: PlainHttpOption = False,
    tls_verify: TlsVerifyOption = "true",
) -> None:
    """Verify IMAGE's signatures (cosign's .sig tag, Sigstore bundles and Notation signatures found as
    OCI 1.1 referrers) offline against a trust policy. One line per signature; exits 0 when at least
    one verifies, else 1."""
    trust = _trust_policy(policy, key)
    from berth.sign.model import Subject
    from berth.sign.repositories import RepositoryError, find_signatures, resolve

    try:
        with _OpenRepository(image, creds, plain_http, tls_verify) as (repository, reference):
            described = resolve(repository, reference)
            artifacts = find_signatures(repository, described["digest"])
            subject = Subject(described["digest"], described["size"], described["mediaType"])
            verdicts = _verdicts(subject, artifacts, trust)
    except (RepositoryError, ValueError) as error:
        raise fail(f"cannot verify {image}: {error}") from None
    where = image if image.endswith(subject.digest) else f"{image} ({subject.digest})"
    for verdict in verdicts:
        typer.echo(_line(verdict))
    if not verdicts:
        raise fail(f"no signature of {where} (of a format the policy counts)")
    if not any(v.verified and not v.attestation for v in verdicts):
        raise fail(f"no signature of {where} verifies")


def _verdicts(subject: Subject, artifacts: list[SignatureArtifact], trust: TrustPolicy) -> list[Verdict]:
    from berth.sign.verify import verify_all

    try:
        return verify_all(subject, artifacts, trust, datetime.now(UTC))
    except Exception as error:  # noqa: BLE001  a verifier's bug or a missing verifier is one line, never a traceback
        raise fail(f"verification failed: {type(error).__name__}: {error}") from None


def _line(verdict: Verdict) -> str:
    outcome = "verified" if verdict.verified else "failed"
    kind = f"{verdict.format.value}{' attestation' if verdict.attestation else ''}"
    return f"{outcome}\t{kind}\t{verdict.signer or '-'}\t{verdict.reason}"


def _registry_target(image: str) -> tuple[str, str, str]:
    """(host, repository, tag or digest) of IMAGE; exit 2 when it names no registry image."""
    from berth.scan.targets import BadTarget, RegistryTarget, parse_target

    if image.startswith("oci:"):
        raise fail("berth sign pushes to a registry: name the image as HOST/REPOSITORY:TAG", BAD_INPUT)
    try:
        target = parse_target("docker://" + image.removeprefix("docker://"))
    except BadTarget as error:
        raise fail(str(error).replace("docker://", ""), BAD_INPUT) from None
    assert isinstance(target, RegistryTarget)
    return target.host, target.repository, target.reference


class _OpenRepository:
    """The registry repository or OCI layout IMAGE names, with the reference to resolve in it."""

    def __init__(self, image: str, creds: str | None, plain_http: bool, tls_verify: str) -> None:
        from berth.sign.repositories import Layout

        self._registry: Registry | None = None
        self._layout: Layout | None = None
        self._reference = ""
        if image.startswith("oci:"):
            path, _, tag = image.removeprefix("oci:").partition(":")
            self._layout = Layout(Path(path))  # RepositoryError when it is not a layout
            self._reference = tag or self._layout.only_image()
        else:
            host, name, self._reference = _registry_target(image)
            self._registry = _registry(host, name, creds, plain_http, tls_verify, push=False)

    def __enter__(self) -> tuple[Registry | Layout, str]:
        repository = self._registry or self._layout
        assert repository is not None
        return repository, self._reference

    def __exit__(self, *exc_info: object) -> None:
        if self._registry is not None:
            self._registry.close()


def _registry(host: str, name: str, creds: str | None, plain_http: bool, tls_verify: str, *, push: bool) -> Registry:
    from berth.sign.repositories import Registry

    verify_tls = tls_verify.strip().lower()
    if verify_tls not in ("true", "false", "1", "0", "yes", "no"):
        raise fail(f"--tls-verify takes true or false, not {tls_verify!r}", BAD_INPUT)
    username = password = None
    if creds is not None:
        username, colon, password = creds.partition(":")
        if not colon:
            raise fail("--creds takes USER:PASSWORD", BAD_INPUT)
    else:
        username, password = _stored_credentials(host) or (None, None)
    return Registry(host, name, username=username, password=password, plain_http=plain_http,
                    tls_verify=verify_tls in ("true", "1", "yes"), push=push)


def _stored_credentials(host: str) -> tuple[str, str] | None:
    """The credentials `skopeo login`, `podman login` or `docker login` stored for `host` (their
    `auths` files, base64 `user:password` entries; credential helpers are not run)."""
    import base64
    import binascii

    import orjson

    runtime = os.environ.get("XDG_RUNTIME_DIR")
    docker = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    candidates = [os.environ.get("REGISTRY_AUTH_FILE"), runtime and f"{runtime}/containers/auth.json",
                  Path.home() / ".config" / "containers" / "auth.json", docker / "config.json"]
    for candidate in filter(None, candidates):
        try:
            entry = orjson.loads(Path(candidate).read_bytes()).get("auths", {}).get(host, {})
            user, colon, password = base64.b64decode(entry.get("auth", ""), validate=True).decode().partition(":")
        except (OSError, ValueError, AttributeError, binascii.Error):
            continue
        if colon:
            return user, password
    return None


def _signing_key(path: Path) -> SigningKey:
    from berth.sign.keys import KeyFileError, WrongPassword, load_private_key

    try:
        data = path.read_bytes()
    except OSError as error:
        raise fail(f"cannot read the key {path}: {error.strerror or error}", BAD_INPUT) from None
    try:
        return load_private_key(data, _password(confirm=False))
    except WrongPassword as error:
        raise fail(f"{path}: {error}") from None
    except KeyFileError as error:
        raise fail(f"{path}: {error}", BAD_INPUT) from None


def _trust_policy(policy: Path | None, key: Path | None) -> TrustPolicy:
    from pydantic import ValidationError

    from berth.sign.policy import TrustPolicy

    if policy is None and key is None:
        raise fail("give --policy FILE (a trust policy) or --key cosign.pub", BAD_INPUT)
    try:
        document: dict[str, Any] = {"mode": "enforce"}
        if policy is not None:
            import orjson

            document = orjson.loads(policy.read_bytes())
            if not isinstance(document, dict):
                raise ValueError("the policy is not a JSON object")
        if key is not None:
            document["cosign_public_keys"] = [*document.get("cosign_public_keys", []), key.read_text()]
        return TrustPolicy.model_validate(document)
    except OSError as error:
        raise fail(f"cannot read {error.filename}: {error.strerror or error}", BAD_INPUT) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "policy"
        raise fail(f"invalid trust policy at {where}: {first['msg']}", BAD_INPUT) from None
    except ValueError as error:  # orjson's JSONDecodeError included
        raise fail(f"invalid trust policy: {error}", BAD_INPUT) from None


def _password(*, confirm: bool) -> bytes:
    """COSIGN_PASSWORD when set (empty is a password too), else asked for at the terminal."""
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV].encode()
    if not sys.stdin.isatty():
        raise fail(f"no password: set {PASSWORD_ENV} (empty for none) or run at a terminal", BAD_INPUT)
    try:
        entered = typer.prompt("Enter password for private key", hide_input=True, default="", show_default=False,
                               confirmation_prompt="Enter password for private key again" if confirm else False)
    except click.Abort:
        raise fail("no password given", BAD_INPUT) from None
    return str(entered).encode()


def _write_private(path: Path, data: bytes) -> None:
    """Only its owner may read a private key file, from the moment it exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
