"""What `berth scan IMAGE` names, in skopeo's transport syntax: `oci:PATH[:REF]` or `docker://HOST/REPO[:TAG|@DIGEST]` (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from berth.references import is_digest_reference

#: Docker Hub's registry answers under this host; `docker.io` is only its name in references
_DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"


class BadTarget(ValueError):
    """The IMAGE argument is not `oci:PATH[:REF]` nor `docker://HOST/REPO[:TAG|@DIGEST]`."""


@dataclass(frozen=True, slots=True)
class LayoutTarget:
    """An OCI image layout directory; `reference` is a tag (ref.name annotation) or digest, None for its only image."""

    path: str
    reference: str | None


@dataclass(frozen=True, slots=True)
class RegistryTarget:
    """A repository on a registry; `reference` is a tag or a digest."""

    host: str
    repository: str
    reference: str

    @property
    def tag(self) -> str | None:
        return None if is_digest_reference(self.reference) else self.reference


def parse_target(text: str) -> LayoutTarget | RegistryTarget:
    if text.startswith("oci:"):
        return _layout(text.removeprefix("oci:"))
    if text.startswith("docker://"):
        return _registry(text.removeprefix("docker://"))
    raise BadTarget(f"{text!r}: name the image as oci:PATH[:TAG] or docker://HOST/REPOSITORY[:TAG|@DIGEST]")


def _layout(rest: str) -> LayoutTarget:
    # as containers/image does on Unix: the first colon ends the path (a path cannot hold one)
    path, _, reference = rest.partition(":")
    if not path:
        raise BadTarget("oci: needs the layout's directory, as oci:PATH[:TAG]")
    return LayoutTarget(path, reference or None)


def _registry(rest: str) -> RegistryTarget:
    name, at, digest = rest.partition("@")
    if at and not is_digest_reference(digest):
        raise BadTarget(f"{digest!r} is not a digest (sha256:…)")
    host, slash, repository = name.partition("/")
    if not slash or not repository or not host:
        raise BadTarget(f"docker://{rest}: needs a registry host and a repository, as docker://HOST/REPOSITORY:TAG")
    reference = digest if at else "latest"
    # a colon after the last slash is a tag (one before it belongs to a host:port)
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:
        if at:
            raise BadTarget("give a tag or a digest, not both")
        repository, _, reference = repository.rpartition(":")
        if not reference:
            raise BadTarget(f"docker://{rest}: empty tag")
    if host == _DOCKER_HUB:
        host = _DOCKER_HUB_API
        if "/" not in repository:
            repository = f"library/{repository}"
    return RegistryTarget(host, repository, reference)
