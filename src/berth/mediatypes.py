"""Media types of the manifests berth understands (OCI image-spec and Docker schema2), and of the
Sigstore bundles that signing clients attach to them."""

import re

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

#: a Sigstore bundle as cosign v3 writes it (protobuf-specs' name since bundle 0.3)
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
# both spellings protobuf-specs gives bundles: `.v0.3+json`, and `+json;version=0.3` (0.1 to 0.3; what
# sigstore-js writes for a bundle built with legacyCompatibility, and what `sigstore attach` then uses
# as the referrer's artifactType)
_SIGSTORE_BUNDLE = re.compile(
    r"application/vnd\.dev\.sigstore\.bundle(?:\.v\d+\.\d+\+json|\+json;\s*version=\d+\.\d+)", re.ASCII)


def is_sigstore_bundle(media_type: object) -> bool:
    """Whether `media_type` names a Sigstore bundle (JSON), in either spelling."""
    return isinstance(media_type, str) and _SIGSTORE_BUNDLE.fullmatch(media_type) is not None


IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFESTS = IMAGE_MANIFESTS | INDEXES
SCHEMA1 = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})

#: layer media types whose bytes may live outside the registry (descriptor "urls")
NON_DISTRIBUTABLE = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
