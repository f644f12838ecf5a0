"""The scanning benchmark's inputs, made from a seed: a ~300 MB OCI image (500 Debian packages, 100 PyPI and
100 npm packages, padding files) and 50,000 schema-valid OSV records as per-ecosystem all.zip exports.

The same seed gives byte-identical layers, so the image's digest is the same from run to run.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MiB = 1 << 20
DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n' \
            'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
#: padding: each 4 KiB block is half random, half a repeated line, so gzip -1 about halves it (binaries compress about so)
_BLOCK = 4096
_FILLER = (b"\x00\x00\x00\x00libc.so.6 GLIBC_2.34 __cxa_finalize\x00" * 128)[: _BLOCK // 2]


@dataclass(frozen=True)
class Corpus:
    layout: Path
    tag: str
    #: compressed bytes of the layers (what a pull moves) and their uncompressed tar bytes
    layer_bytes: int
    tar_bytes: int
    os_packages: int
    lang_packages: int
    osv_zips: list[Path]
    records: int
    #: records that name a package of the image with a range holding its installed version
    affecting: int
    #: the findings a correct scan reports: a Debian record once per binary package of its source
    expected_findings: int


@dataclass(frozen=True)
class _Installed:
    ecosystem: str  # OSV's: Debian:12, PyPI, npm
    name: str  # what OSV records are keyed by (the Debian source package)
    version: str
    #: installed packages built from it (Debian binaries of one source), each a finding of a record
    binaries: int = 1


class _Hashing(io.RawIOBase):
    """A write-through file that hashes and counts what passes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        self.hash.update(data)
        self.size += len(data)
        self._out.write(data)
        return len(data)


def _padding(rng: random.Random, size: int) -> bytes:
    blocks = [rng.randbytes(_BLOCK // 2) + _FILLER for _ in range(size // _BLOCK)]
    return b"".join(blocks)


class _LayerWriter:
    """One gzip (level 1) tar layer written straight into the layout's blobs folder."""

    def __init__(self, blobs: Path, name: str) -> None:
        self._path = blobs / f".{name}.partial"
        self._file = self._path.open("wb")
        self._blob = _Hashing(self._file)
        self._gzip = gzip.GzipFile(fileobj=self._blob, mode="wb", compresslevel=1, mtime=0)  # type: ignore[arg-type]
        self._tar_stream = _Hashing(self._gzip)  # type: ignore[arg-type]
        self._tar = tarfile.open(fileobj=self._tar_stream, mode="w|", format=tarfile.PAX_FORMAT)  # type: ignore[arg-type]

    def add(self, path: str, data: bytes, mode: int = 0o644) -> None:
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(data), mode
        self._tar.addfile(info, io.BytesIO(data))

    def close(self) -> tuple[dict, str, int]:
        """(descriptor, diff_id, tar bytes)."""
        self._tar.close()
        self._gzip.close()
        self._file.close()
        digest = "sha256:" + self._blob.hash.hexdigest()
        self._path.rename(self._path.parent / digest.split(":")[1])
        descriptor = {"mediaType": LAYER_GZIP, "digest": digest, "size": self._blob.size}
        return descriptor, "sha256:" + self._tar_stream.hash.hexdigest(), self._tar_stream.size


def _write_blob(blobs: Path, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _debian_packages(rng: random.Random, count: int) -> tuple[str, list[_Installed]]:
    """A dpkg status of `count` binary packages built from count/2 source packages."""
    stanzas, sources = [], {}
    for i in range(count):
        source = f"bsrc{i // 2:03d}"
        version = sources.setdefault(source, f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}-"
                                             f"{rng.randint(1, 5)}")
        name = f"lib{source[4:]}-{'bin' if i % 2 else 'dev'}{rng.randint(0, 9)}"
        stanzas.append(f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
                       f"Installed-Size: {rng.randint(10, 9000)}\nMaintainer: Bench <bench@example.invalid>\n"
                       f"Architecture: amd64\nSource: {source}\nVersion: {version}\n"
                       f"Depends: libc6 (>= 2.34)\nDescription: benchmark package {i}\n synthetic.\n")
    installed = [_Installed("Debian:12", source, version, binaries=2) for source, version in sources.items()]
    return "\n".join(stanzas), installed


def _semver(rng: random.Random) -> str:
    return f"{rng.randint(0, 12)}.{rng.randint(0, 40)}.{rng.randint(0, 20)}"


def build_image(root: Path, seed: int, total_layer_bytes: int = 300_000_000) -> tuple[Path, str, int, int, list[_Installed]]:
    """The OCI layout under root/layout: three layers (OS, Python, npm) splitting the padding evenly."""
    rng = random.Random(seed)
    layout = root / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    status, debian = _debian_packages(rng, 500)
    pypi = [_Installed("PyPI", f"benchpy-{i:03d}", _semver(rng)) for i in range(100)]
    npm = [_Installed("npm", f"bench-js-{i:03d}", _semver(rng)) for i in range(100)]
    # the compressed padding per layer: gzip -1 gives about 0.505 of the half-random blocks
    padding_per_layer = int(total_layer_bytes / 3 / 0.505)
    layers: list[tuple[dict, str, int]] = []

    def pad(writer: _LayerWriter, folder: str, executable: bool) -> None:
        written, n = 0, 0
        while written < padding_per_layer:
            size = min(rng.choice((256 << 10, 1 << 20, 4 << 20)), padding_per_layer - written)
            writer.add(f"{folder}/pad{n:04d}.bin", _padding(rng, max(size, _BLOCK)), 0o755 if executable else 0o644)
            written, n = written + size, n + 1

    os_layer = _LayerWriter(blobs, "os")
    os_layer.add("etc/os-release", DEBIAN_12.encode())
    os_layer.add("var/lib/dpkg/status", status.encode())
    pad(os_layer, "usr/lib/x86_64-linux-gnu", executable=False)
    layers.append(os_layer.close())

    py_layer = _LayerWriter(blobs, "python")
    for package in pypi:
        folder = f"usr/local/lib/python3.11/site-packages/{package.name.replace('-', '_')}-{package.version}.dist-info"
        py_layer.add(f"{folder}/METADATA", f"Metadata-Version: 2.1\nName: {package.name}\nVersion: {package.version}\n"
                                           f"Summary: benchmark package\nLicense: MIT\n".encode())
        py_layer.add(f"{folder}/RECORD", f"{package.name}/__init__.py,,\n".encode())
    pad(py_layer, "usr/local/bin", executable=True)
    layers.append(py_layer.close())

    npm_layer = _LayerWriter(blobs, "npm")
    for package in npm:
        npm_layer.add(f"app/node_modules/{package.name}/package.json",
                      json.dumps({"name": package.name, "version": package.version, "license": "MIT",
                                  "main": "index.js"}).encode())
        npm_layer.add(f"app/node_modules/{package.name}/index.js", b"module.exports = {};\n")
    pad(npm_layer, "app/assets", executable=False)
    layers.append(npm_layer.close())

    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id, _ in layers]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": _write_blob(blobs, config, OCI_CONFIG),
        "layers": [descriptor for descriptor, _, _ in layers],
    }, sort_keys=True).encode()
    descriptor = _write_blob(blobs, manifest, OCI_MANIFEST)
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": "bench"}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                   "manifests": [descriptor]}))
    return (layout, sum(d["size"] for d, _, _ in layers), sum(size for _, _, size in layers),
            len(pypi) + len(npm), debian + pypi + npm)


def _bumped(ecosystem: str, version: str) -> str:
    """A version just above `version` in its ecosystem (Debian: a +deb12u1 upload; semver: the next patch)."""
    if ecosystem.startswith("Debian"):
        return version + "+deb12u1"
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def _record(rng: random.Random, number: int, ecosystem: str, package: str, events: list[dict]) -> dict:
    cve = f"CVE-{2015 + number % 10}-{10000 + number}"
    score = rng.choice(["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N",
                        "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"])
    affected: dict = {"package": {"ecosystem": ecosystem, "name": package},
                      "ranges": [{"type": "ECOSYSTEM", "events": events}]}
    record: dict = {
        "schema_version": "1.6.0",
        "modified": f"2025-{1 + number % 12:02d}-{1 + number % 28:02d}T12:00:00Z",
        "published": f"{2015 + number % 10}-06-01T00:00:00Z",
        "summary": f"synthetic vulnerability {number} in {package}",
        "details": f"A made-up flaw for berth's scanning benchmark (record {number}). " * 3,
        "references": [{"type": "ADVISORY", "url": f"https://security.example.invalid/{cve}"},
                       {"type": "WEB", "url": f"https://bugs.example.invalid/{package}/{number}"}],
    }
    if ecosystem.startswith("Debian"):
        record["id"] = f"DEBIAN-{cve}"
        record["upstream"] = [cve]
        affected["ecosystem_specific"] = {"urgency": rng.choice(["low", "medium", "high", "not yet assigned"])}
    else:
        record["id"] = f"GHSA-bnch-{number:04x}-{number % 9973:04x}"
        record["aliases"] = [cve]
        record["severity"] = [{"type": "CVSS_V3", "score": score}]
        record["database_specific"] = {"severity": rng.choice(["LOW", "MODERATE", "HIGH", "CRITICAL"]),
                                       "github_reviewed": True, "cwe_ids": ["CWE-79"]}
    record["affected"] = [affected]
    return record


def write_osv(
    root: Path, seed: int, installed: list[_Installed], count: int = 50_000
) -> tuple[list[Path], int, int]:
    """`count` records over Debian:12 (40%), PyPI and npm (30% each): one in ten names a package of the
    image (half of those with a range that holds the installed version), the rest name other packages."""
    rng = random.Random(seed + 1)
    by_ecosystem: dict[str, list[_Installed]] = {}
    for package in installed:
        by_ecosystem.setdefault(package.ecosystem, []).append(package)
    zips = {"Debian": root / "osv" / "Debian" / "all.zip", "PyPI": root / "osv" / "PyPI" / "all.zip",
            "npm": root / "osv" / "npm" / "all.zip"}
    archives = {}
    for name, path in zips.items():
        path.parent.mkdir(parents=True)
        archives[name] = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
    affecting = findings = 0
    for number in range(count):
        draw = rng.random()
        ecosystem = "Debian:12" if draw < 0.4 else "PyPI" if draw < 0.7 else "npm"
        if rng.random() < 0.1:
            package = rng.choice(by_ecosystem[ecosystem])
            name = package.name
            if rng.random() < 0.5:
                events = [{"introduced": "0"}, {"fixed": _bumped(ecosystem, package.version)}]
                affecting += 1
                findings += package.binaries
            else:  # fixed long before the installed version
                events = [{"introduced": "0"}, {"fixed": "0.0.1" if ecosystem != "Debian:12" else "0.1-1"}]
        else:
            name = f"{'src' if ecosystem == 'Debian:12' else 'pkg'}-{rng.randrange(20_000):05d}"
            events = [{"introduced": "0"}, {"fixed": _bumped(ecosystem, _semver(rng))}]
        record = _record(rng, number, ecosystem, name, events)
        archive = archives["Debian" if ecosystem == "Debian:12" else ecosystem]
        # a fixed time stamp per entry: the same seed gives the same zip bytes
        entry = zipfile.ZipInfo(f"{record['id']}.json", date_time=(2025, 1, 1, 0, 0, 0))
        archive.writestr(entry, json.dumps(record), compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    for archive in archives.values():
        archive.close()
    return list(zips.values()), affecting, findings


def build(root: Path, seed: int = 20261202, records: int = 50_000) -> Corpus:
    layout, layer_bytes, tar_bytes, lang, installed = build_image(root, seed)
    zips, affecting, findings = write_osv(root, seed, installed, records)
    return Corpus(layout, "bench", layer_bytes, tar_bytes, 500, lang, zips, records, affecting, findings)
