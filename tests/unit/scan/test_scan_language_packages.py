"""Language package detectors: Python metadata, npm manifests and lockfiles, jars, Go build info."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from berth.scan.detect import DetectError
from berth.scan.detect.go import GoBinaryDetector, parse_modinfo, read_build_info
from berth.scan.detect.java import JavaArchiveDetector, from_manifest, parse_manifest
from berth.scan.detect.npm import NpmDetector
from berth.scan.detect.python import PythonDetector, pep503_name
from berth.scan.limits import Limits

SCALIBR = Path(__file__).resolve().parents[2] / "fixtures" / "scanning" / "osv-scalibr"
LIMITS = Limits()


# Python


def python(path: str, name: str):  # type: ignore[no-untyped-def]
    detector = PythonDetector()
    assert detector.wants(path, 0o644)
    return detector.detect(path, (SCALIBR / "python" / name).read_bytes(), LIMITS)


def test_dist_info_metadata() -> None:
    (pip,) = python("/usr/lib/python3/dist-packages/pip-22.2.2.dist-info/METADATA", "distinfo_meta")
    assert (pip.name, pip.version, pip.ecosystem, pip.purl, pip.licenses) == (
        "pip",
        "22.2.2",
        "PyPI",
        "pkg:pypi/pip@22.2.2",
        ("MIT",),
    )


def test_egg_info_directory_and_single_file() -> None:
    (pycups,) = python("/usr/lib/python3/dist-packages/pycups-2.0.1.egg-info", "egginfo")
    assert (pycups.name, pycups.version, pycups.licenses) == ("pycups", "2.0.1", ("GPLv2+",))
    (found,) = python("/usr/lib/python3.11/site-packages/httplib2.egg-info/PKG-INFO", "egginfo_pkginfo")
    assert found.ecosystem == "PyPI" and found.version


def test_header_names_are_case_insensitive_and_names_pep503_normalised() -> None:
    (mixed,) = python("/site-packages/x.dist-info/METADATA", "mixed_case")
    assert (mixed.name, mixed.version) == ("httplib2", "1.0")
    (special,) = python("/site-packages/y.dist-info/METADATA", "special_chars")
    assert special.name == "backports-ssl-match-hostname"
    assert pep503_name("Zope.Interface__x") == "zope-interface-x"


def test_malformed_and_empty_metadata() -> None:
    (passlib,) = python("/site-packages/passlib.egg-info/PKG-INFO", "malformed_pkginfo")
    assert (passlib.name, passlib.version) == ("passlib", "1.7.4")
    assert python("/site-packages/z.dist-info/METADATA", "empty") == []


def test_python_wants_only_metadata_files() -> None:
    detector = PythonDetector()
    assert not detector.wants("/app/METADATA", 0o644)
    assert not detector.wants("/app/pkg/PKG-INFO", 0o644)


# npm


def test_node_modules_package_json_including_scoped() -> None:
    detector = NpmDetector()
    assert detector.wants("/app/node_modules/lodash/package.json", 0o644)
    assert detector.wants("/app/node_modules/@babel/core/package.json", 0o644)
    assert detector.wants("/app/node_modules/a/node_modules/b/package.json", 0o644)
    assert not detector.wants("/app/node_modules/lodash/lib/package.json", 0o644)
    assert not detector.wants("/app/package.json", 0o644)
    (core,) = detector.detect(
        "/app/node_modules/@babel/core/package.json",
        json.dumps({"name": "@babel/core", "version": "7.23.0", "license": "MIT"}).encode(),
        LIMITS,
    )
    assert (core.name, core.ecosystem, core.purl, core.licenses) == (
        "@babel/core",
        "npm",
        "pkg:npm/%40babel/core@7.23.0",
        ("MIT",),
    )


def test_package_json_old_licence_forms_and_garbage() -> None:
    detector = NpmDetector()
    path = "/n/node_modules/x/package.json"
    (old,) = detector.detect(path, b'{"name":"x","version":"1.0.0","licenses":[{"type":"BSD"},{"type":"MIT"}]}', LIMITS)
    assert old.licenses == ("BSD", "MIT")
    assert detector.detect(path, b"{not json", LIMITS) == []
    assert detector.detect(path, b'{"name":"x"}', LIMITS) == []


def test_package_lock_v3_packages_without_dev_and_links() -> None:
    lock = {
        "name": "app",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app", "version": "1.0.0"},
            "node_modules/lodash": {"version": "4.17.20", "license": "MIT"},
            "node_modules/@types/node": {"version": "20.1.0", "dev": True},
            "node_modules/a/node_modules/ms": {"version": "2.1.3"},
            "node_modules/local": {"resolved": "../local", "link": True},
        },
    }
    detector = NpmDetector()
    assert detector.wants("/srv/app/package-lock.json", 0o644)
    assert not detector.wants("/srv/app/node_modules/.package-lock.json", 0o644)
    found = detector.detect("/srv/app/package-lock.json", json.dumps(lock).encode(), LIMITS)
    assert [(p.name, p.version) for p in found] == [("lodash", "4.17.20"), ("ms", "2.1.3")]
    with pytest.raises(DetectError):
        detector.detect("/srv/app/package-lock.json", b"[", LIMITS)


# Java


def jar(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


POM = b"groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n"


def test_jar_pom_properties() -> None:
    data = jar(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
            "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties": POM,
        }
    )
    (log4j,) = JavaArchiveDetector().detect("/app/lib/log4j-core-2.14.1.jar", data, LIMITS)
    assert (log4j.name, log4j.version, log4j.ecosystem) == ("org.apache.logging.log4j:log4j-core", "2.14.1", "Maven")
    assert log4j.purl == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"


def test_war_with_nested_jars_one_level_down_only() -> None:
    inner = jar({"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties": POM})
    innermost = jar(
        {"META-INF/maven/com.example/deep/pom.properties": b"groupId=com.example\nartifactId=deep\nversion=1\n"}
    )
    nested_twice = jar(
        {
            "META-INF/maven/com.example/mid/pom.properties": b"groupId=com.example\nartifactId=mid\nversion=2\n",
            "lib/deep-1.jar": innermost,
        }
    )
    war = jar({"WEB-INF/lib/log4j-core-2.14.1.jar": inner, "WEB-INF/lib/mid-2.jar": nested_twice})
    found = JavaArchiveDetector().detect("/srv/app.war", war, LIMITS)
    assert sorted(p.name for p in found) == ["com.example:mid", "org.apache.logging.log4j:log4j-core"]
    assert {p.path for p in found} == {
        "/srv/app.war!/WEB-INF/lib/log4j-core-2.14.1.jar",
        "/srv/app.war!/WEB-INF/lib/mid-2.jar",
    }
    deeper = JavaArchiveDetector().detect("/srv/app.war", war, Limits(max_archive_depth=3))
    assert "com.example:deep" in {p.name for p in deeper}


def test_manifest_fallback_on_real_manifests() -> None:
    def guess(case: str, file_name: str):  # type: ignore[no-untyped-def]
        manifest = parse_manifest((SCALIBR / "java" / f"{case}.MF").read_text())
        return from_manifest(manifest, file_name, "/x/" + file_name)

    guava = guess("manifest-symbolicname", "failureaccess-1.0.1.jar")
    assert (guava.name, guava.version) == ("com.google.guava:failureaccess", "1.0.1")
    axis = guess("axis", "axis.jar")
    assert axis is None  # the main section has neither title nor version: they sit in a per-entry section
    ivy = guess("combine-manifest-filename", "ivy-2.4.0.jar")
    assert (ivy.name, ivy.version) == ("org.apache:ivy", "2.4.0")
    invalid = guess("invalid-ids", "thing.jar")
    assert (invalid.name, invalid.version) == ("correct.name", "1.2.3")


def test_corrupt_jar_is_an_error() -> None:
    with pytest.raises(DetectError):
        JavaArchiveDetector().detect("/app/broken.jar", b"PK\x03\x04 not really", LIMITS)


def test_zip_entry_over_the_file_cap_is_refused() -> None:
    data = jar({"META-INF/maven/a/b/pom.properties": b"groupId=a\nartifactId=b\nversion=1\n" + b"#" * 5000})
    with pytest.raises(DetectError):
        JavaArchiveDetector().detect("/app/b.jar", data, Limits(max_file_bytes=1000))


# Go


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


SENTINEL = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
MODINFO = (
    "path\texample.com/hello\n"
    "mod\texample.com/hello\tv1.2.0\th1:abc=\n"
    "dep\tgolang.org/x/text\tv0.3.7\th1:def=\n"
    "dep\tgithub.com/old/thing\tv1.0.0\th1:ghi=\n"
    "=>\tgithub.com/new/thing\tv1.1.0\th1:jkl=\n"
    "build\tGOOS=linux\n"
)


def test_synthetic_inline_build_info() -> None:
    """A synthetic buffer (not a real binary): ELF magic, padding, then the Go 1.18+ inline header."""
    framed = SENTINEL + MODINFO.encode() + SENTINEL
    blob = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16 + varint(8) + b"go1.21.5" + varint(len(framed)) + framed
    data = b"\x7fELF" + b"\0" * 60 + blob + b"\0" * 64
    found = GoBinaryDetector().detect("/usr/local/bin/hello", data, LIMITS)
    assert [(p.name, p.version) for p in found] == [
        ("stdlib", "1.21.5"),
        ("example.com/hello", "v1.2.0"),
        ("golang.org/x/text", "v0.3.7"),
        ("github.com/new/thing", "v1.1.0"),
    ]
    assert found[2].purl == "pkg:golang/golang.org/x/text@v0.3.7"


def test_synthetic_pointer_format_build_info() -> None:
    """Go < 1.18: two pointers to string headers, resolved through an ELF64 PT_LOAD segment (synthetic)."""
    base = 0x400000
    body = bytearray(0x400)
    header = struct.pack("<4sBBBB8xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 2, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    body[: len(header)] = header
    # one PT_LOAD mapping file offset 0 at `base`, the whole file
    body[64 : 64 + 56] = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, len(body), len(body), 0x1000)
    version, modinfo = b"go1.16.15", SENTINEL + MODINFO.encode() + SENTINEL
    body[0x200 : 0x200 + len(version)] = version
    body[0x220 : 0x220 + len(modinfo)] = modinfo
    body[0x1C0:0x1D0] = struct.pack("<QQ", base + 0x200, len(version))
    body[0x1D0:0x1E0] = struct.pack("<QQ", base + 0x220, len(modinfo))
    body[0x100:0x120] = b"\xff Go buildinf:" + bytes([8, 0]) + struct.pack("<QQ", base + 0x1C0, base + 0x1D0)
    info = read_build_info(bytes(body))
    assert info is not None
    assert (info.go_version, info.path, info.main) == (
        "go1.16.15",
        "example.com/hello",
        ("example.com/hello", "v1.2.0"),
    )
    assert info.deps[-1] == ("github.com/new/thing", "v1.1.0")


def test_binary_without_build_info_and_damaged_build_info() -> None:
    detector = GoBinaryDetector()
    assert detector.detect("/bin/true", b"\x7fELF" + b"\0" * 100, LIMITS) == []
    with pytest.raises(DetectError):
        detector.detect(
            "/bin/x",
            b"\x7fELF" + b"\0" * 12 + b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16 + b"\xff\xff\xff\x7f",
            LIMITS,
        )


def test_devel_main_module_is_not_a_package() -> None:
    info = parse_modinfo("go1.22.0 X:boringcrypto", "path\tx\nmod\tx\t(devel)\t\n")
    assert info.main == ("x", "(devel)")


def test_real_debian_go_binary() -> None:
    """/usr/bin/docker-registry: Debian's CNCF distribution, built in GOPATH mode with Go 1.19."""
    binary = Path("/usr/bin/docker-registry")
    if not binary.is_file():
        pytest.skip("docker-registry is not installed")
    data = binary.read_bytes()
    info = read_build_info(data)
    assert info is not None and info.go_version.startswith("go1.")
    assert info.path == "github.com/docker/distribution/cmd/registry"
    found = GoBinaryDetector().detect(str(binary), data, LIMITS)
    assert found[0].name == "stdlib" and found[0].version == info.go_version[2:].split()[0]


def test_binary_compiled_here(tmp_path: Path) -> None:
    go = shutil.which("go") or next((str(p) for p in Path("/usr/lib").glob("go*/bin/go")), None)
    if go is None:
        pytest.skip("no Go toolchain on this machine")
    (tmp_path / "go.mod").write_text("module example.com/built\n\ngo 1.18\n")
    (tmp_path / "main.go").write_text('package main\n\nfunc main() { println("hi") }\n')
    env = {
        "HOME": str(tmp_path),
        "GOCACHE": str(tmp_path / "cache"),
        "GOPATH": str(tmp_path / "gopath"),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run([go, "build", "-o", "built"], cwd=tmp_path, env=env, check=True, timeout=300)
    info = read_build_info((tmp_path / "built").read_bytes())
    assert info is not None and info.path == "example.com/built"
    assert info.main == ("example.com/built", "(devel)")
    assert info.go_version.startswith("go1.")
