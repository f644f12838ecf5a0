"""OS detection and the dpkg, apk and rpm readers, on real package databases."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from berth.scan.detect import DetectError, finish_os_package, os_info
from berth.scan.detect.apk import ApkDetector
from berth.scan.detect.dpkg import DpkgDetector
from berth.scan.detect.os_release import OSReleaseDetector
from berth.scan.detect.rpm import RpmDetector
from berth.scan.limits import Limits
from berth.scan.model import OSInfo

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scanning"
SCALIBR = FIXTURES / "osv-scalibr"
RPMDB = FIXTURES / "rpmdb"
LIMITS = Limits()


def detect(detector, path: str, data: bytes):  # type: ignore[no-untyped-def]
    assert detector.wants(path, 0o644)
    return detector.detect(path, data, LIMITS)


@pytest.mark.parametrize(
    ("os_release", "ecosystem"),
    [
        ('ID=debian\nVERSION_ID="12"\nVERSION="12 (bookworm)"\n', "Debian:12"),
        ('ID=ubuntu\nVERSION_ID="22.04"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\n', "Ubuntu:22.04:LTS"),
        ('ID=ubuntu\nVERSION_ID="23.10"\nVERSION="23.10 (Mantic Minotaur)"\n', "Ubuntu:23.10"),
        ("ID=alpine\nVERSION_ID=3.19.1\n", "Alpine:v3.19"),
        ('ID="almalinux"\nVERSION_ID="9.3"\n', "AlmaLinux:9"),
        ('ID="rocky"\nVERSION_ID="9.3"\n', "Rocky Linux:9"),
        ("ID=fedora\nVERSION_ID=39\n", None),
        ('ID="centos"\nVERSION_ID="7"\n', None),
        ('ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n', None),
    ],
)
def test_os_release_maps_to_osv_ecosystem(os_release: str, ecosystem: str | None) -> None:
    found = detect(OSReleaseDetector(), "/etc/os-release", os_release.encode())
    assert os_info(found).ecosystem == ecosystem


def test_etc_os_release_wins_over_the_vendor_copy() -> None:
    detector = OSReleaseDetector()
    vendor = detect(detector, "/usr/lib/os-release", b"ID=debian\nVERSION_ID=11\n")
    local = detect(detector, "/etc/os-release", b"ID=debian\nVERSION_ID=12\n")
    assert os_info(vendor + local).version_id == "12"
    assert os_info(vendor).ecosystem == "Debian:11"


def test_alpine_release_alone_names_the_branch() -> None:
    found = detect(OSReleaseDetector(), "/etc/alpine-release", b"3.18.4\n")
    assert os_info(found) == OSInfo(id="alpine", version_id="3.18.4", ecosystem="Alpine:v3.18")


def test_host_os_release_is_understood() -> None:
    path = Path("/etc/os-release")
    info = os_info(detect(OSReleaseDetector(), "/etc/os-release", path.read_bytes()))
    assert info is not None and info.id and info.pretty_name
    if info.id == "debian" and info.version_id:
        assert info.ecosystem == f"Debian:{info.version_id.split('.')[0]}"


def test_dpkg_keeps_only_installed_packages() -> None:
    found = detect(DpkgDetector(), "/var/lib/dpkg/status", (SCALIBR / "dpkg" / "statusfield").read_bytes())
    assert sorted(p.name for p in found) == [
        "wantdeinstall_installed",
        "wantinstall_installed",
        "wantnostatus",
        "wantpurge_installed",
    ]


def test_dpkg_source_field_gives_the_lookup_name() -> None:
    (git_core,) = detect(DpkgDetector(), "/var/lib/dpkg/status", (SCALIBR / "dpkg" / "transitional_dummy").read_bytes())
    assert (git_core.name, git_core.version, git_core.source_name, git_core.source_version) == (
        "git-core",
        "1:2.14.2-1",
        "git",
        None,
    )


def test_dpkg_source_with_version_in_parentheses() -> None:
    status = (
        b"Package: libgcc-s1\nStatus: install ok installed\nArchitecture: amd64\n"
        b"Source: gcc-12 (12.2.0-14)\nVersion: 12.2.0-14+deb12u1\n"
    )
    (package,) = detect(DpkgDetector(), "/var/lib/dpkg/status", status)
    assert (package.source_name, package.source_version) == ("gcc-12", "12.2.0-14")


def test_dpkg_skips_stanzas_without_name_or_version() -> None:
    detector = DpkgDetector()
    assert [
        p.name for p in detect(detector, "/var/lib/dpkg/status", (SCALIBR / "dpkg" / "noversion").read_bytes())
    ] == ["foo", "bar"]
    assert [
        p.name for p in detect(detector, "/var/lib/dpkg/status", (SCALIBR / "dpkg" / "nopackage").read_bytes())
    ] == ["foo", "bar"]
    assert detect(detector, "/var/lib/dpkg/status", (SCALIBR / "dpkg" / "invalid").read_bytes()) == []
    assert detect(detector, "/var/lib/dpkg/status", b"") == []


def test_dpkg_reads_distroless_status_d_files() -> None:
    detector = DpkgDetector()
    assert not detector.wants("/var/lib/dpkg/status.d/foo.md5sums", 0o644)
    found = detect(detector, "/var/lib/dpkg/status.d/foo", (SCALIBR / "dpkg" / "status.d" / "foo").read_bytes())
    assert [(p.name, p.version, p.arch) for p in found] == [("foo", "1.2.3", "amd64")]


def test_host_dpkg_status_is_a_big_real_fixture() -> None:
    status = Path("/var/lib/dpkg/status")
    if not status.is_file():
        pytest.skip("no dpkg on this machine")
    text = status.read_text()
    found = detect(DpkgDetector(), "/var/lib/dpkg/status", text.encode())
    installed = sum(1 for stanza in text.split("\n\n") if "Status: install ok installed" in stanza)
    assert len(found) == installed > 50
    by_name = {p.name: p for p in found}
    if "libc6" in by_name:
        assert by_name["libc6"].source_name == "glibc"
    debian = OSInfo(id="debian", version_id="12", ecosystem="Debian:12")
    package = finish_os_package(by_name["dpkg"], debian, "/var/lib/dpkg/status", None)
    assert package.ecosystem == "Debian:12"
    assert package.purl.startswith(f"pkg:deb/debian/dpkg@{by_name['dpkg'].version}?arch=")
    assert package.purl.endswith("distro=debian-12")


def test_apk_reads_names_versions_origins_and_licences() -> None:
    found = detect(ApkDetector(), "/lib/apk/db/installed", (SCALIBR / "apk" / "installed").read_bytes())
    assert len(found) == 15
    (baselayout,) = detect(ApkDetector(), "/lib/apk/db/installed", (SCALIBR / "apk" / "single").read_bytes())
    assert (baselayout.name, baselayout.version, baselayout.arch) == ("alpine-baselayout-data", "3.4.3-r1", "x86_64")
    assert baselayout.source_name == "alpine-baselayout"
    assert baselayout.licenses == ("GPL-2.0-only",)
    alpine = OSInfo(id="alpine", version_id="3.18.0", ecosystem="Alpine:v3.18")
    package = finish_os_package(baselayout, alpine, "/lib/apk/db/installed", None)
    assert package.lookup_name == "alpine-baselayout"
    assert package.purl == "pkg:apk/alpine/alpine-baselayout-data@3.4.3-r1?arch=x86_64&distro=alpine-3.18.0"


def test_apk_without_origin_looks_up_its_own_name() -> None:
    (package,) = detect(ApkDetector(), "/lib/apk/db/installed", (SCALIBR / "apk" / "no-origin").read_bytes())
    assert package.source_name is None
    assert detect(ApkDetector(), "/lib/apk/db/installed", (SCALIBR / "apk" / "invalid").read_bytes()) == []


def test_rpm_berkeley_db_packages() -> None:
    (libuuid,) = detect(
        RpmDetector(), "/var/lib/rpm/Packages", (RPMDB / "go-rpmdb-testdata" / "libuuid" / "Packages").read_bytes()
    )
    assert (libuuid.name, libuuid.version, libuuid.arch) == ("libuuid", "2.32.1-42.el8_8", "x86_64")
    assert (libuuid.source_name, libuuid.source_version) == ("util-linux", None)
    assert libuuid.licenses == ("BSD",)


def test_rpm_berkeley_db_with_epoch() -> None:
    (hello,) = detect(RpmDetector(), "/var/lib/rpm/Packages", (SCALIBR / "rpm" / "Packages_epoch").read_bytes())
    assert (hello.name, hello.version, hello.epoch) == ("hello", "1:0.0.1-rls", 1)


def test_rpm_ndb_packages() -> None:
    found = detect(
        RpmDetector(),
        "/usr/lib/sysimage/rpm/Packages.db",
        (RPMDB / "go-rpmdb-testdata" / "sle15-bci" / "Packages.db").read_bytes(),
    )
    assert len(found) == 35
    assert [p.name for p in found[:3]] == ["system-user-root", "filesystem", "glibc"]
    glibc = found[2]
    assert (glibc.version, glibc.arch) == ("2.31-9.3.2", "x86_64")


def test_rpm_sqlite_packages_and_purl_epoch() -> None:
    (openssl,) = detect(
        RpmDetector(), "/var/lib/rpm/rpmdb.sqlite", (RPMDB / "generated-sqlite" / "rpmdb.sqlite").read_bytes()
    )
    assert (openssl.name, openssl.version, openssl.arch, openssl.epoch) == (
        "openssl-libs",
        "1:3.0.7-24.el9",
        "noarch",
        1,
    )
    alma = OSInfo(id="almalinux", version_id="9.3", ecosystem="AlmaLinux:9")
    package = finish_os_package(openssl, alma, "/var/lib/rpm/rpmdb.sqlite", None)
    assert package.ecosystem == "AlmaLinux:9"
    assert package.purl == "pkg:rpm/almalinux/openssl-libs@3.0.7-24.el9?arch=noarch&distro=almalinux-9.3&epoch=1"


def test_rpm_berkeley_db_with_a_header_small_enough_to_sit_inline() -> None:
    """A synthetic two-page hash database (8 KiB pages) holding go-rpmdb's real header blob inline,
    next to the inline 4-byte counter rpm keeps under key 0."""
    blob = (RPMDB / "go-rpmdb-testdata" / "blob.bin").read_bytes()
    size = 8192
    meta = bytearray(size)
    struct.pack_into("<IIII", meta, 12, 0x061561, 9, size, 0)
    meta[25] = 8  # hash metadata page
    struct.pack_into("<I", meta, 32, 1)  # last page number
    page = bytearray(size)
    # key 0 -> counter 2, key 1 -> the header; every item is type 1 (inline data)
    items = [b"\x01" + struct.pack("<I", n) for n in (0, 2, 1)] + [b"\x01" + blob]
    offsets, end = [], size
    for item in items:
        end -= len(item)
        page[end : end + len(item)] = item
        offsets.append(end)
    struct.pack_into("<IHH", page, 16, 0, len(items), end)
    page[25] = 13  # hash page
    struct.pack_into(f"<{len(items)}H", page, 26, *offsets)
    (package,) = RpmDetector().detect("/var/lib/rpm/Packages", bytes(meta + page), LIMITS)
    assert (package.name, package.version, package.arch) == ("publicsuffix-list-dafsa", "20210518-2.fc35", "noarch")
    assert (package.source_name, package.source_version) == ("publicsuffix-list", None)


@pytest.mark.parametrize("name", ["Packages", "Packages.db", "rpmdb.sqlite"])
def test_corrupt_rpmdb_is_an_error_not_an_empty_list(name: str) -> None:
    with pytest.raises(DetectError):
        RpmDetector().detect(f"/var/lib/rpm/{name}", b"\0" * 8192, LIMITS)


def test_truncated_berkeley_db_is_an_error() -> None:
    data = (RPMDB / "go-rpmdb-testdata" / "libuuid" / "Packages").read_bytes()
    with pytest.raises(DetectError):
        RpmDetector().detect("/var/lib/rpm/Packages", data[: len(data) // 2], LIMITS)
