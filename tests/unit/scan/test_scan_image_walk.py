"""The image walk on OCI layouts built here: layer order, whiteouts, attribution, platforms, damage."""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
from pathlib import Path

import pytest

from berth.scan.image import UnsupportedImage, inventory
from berth.scan.limits import Limits
from berth.scan.platforms import NoMatchingPlatform
from berth.scan.sources import OCILayoutSource
from tests.scanimages import DOCKER_LAYER, LayerBlob, Layout, gzip_layer, plain_layer, sha256, tar_of, zstd_layer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scanning"
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


def stanza(name: str, version: str, source: str | None = None) -> str:
    text = f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
    return text + (f"Source: {source}\n" if source else "")


def status(*stanzas: str) -> str:
    return "\n".join(stanzas)


def dist_info(name: str, version: str) -> dict[str, str]:
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    return {f"usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA": metadata}


def scan(layout: Layout, reference: str | None = None, **options):  # type: ignore[no-untyped-def]
    return inventory(OCILayoutSource(layout.root), reference, **options)


def names(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {p.name: p.layer.digest for p in result.packages}


def test_packages_are_attributed_to_the_layer_that_added_them(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    base = gzip_layer(
        tar_of({"etc/os-release": DEBIAN, "var/lib/dpkg/status": status(stanza("libc6", "2.36-9", "glibc"))})
    )
    # apt-get in a later layer rewrites the whole status file with one more package
    apt = gzip_layer(
        tar_of({"var/lib/dpkg/status": status(stanza("libc6", "2.36-9", "glibc"), stanza("curl", "7.88.1-10"))})
    )
    app = gzip_layer(
        tar_of(
            {
                **dist_info("requests", "2.31.0"),
                "app/node_modules/lodash/package.json": '{"name":"lodash","version":"4.17.20"}',
            }
        )
    )
    layout.tag(layout.image([base, apt, app]), "latest")

    result = scan(layout, "latest")

    assert result.os is not None and result.os.ecosystem == "Debian:12"
    assert result.platform == "linux/amd64"
    assert [layer.diff_id for layer in result.layers] == [sha256(base.tar), sha256(apt.tar), sha256(app.tar)]
    by_name = {p.name: p for p in result.packages}
    assert by_name["libc6"].layer == result.layers[0]
    assert by_name["curl"].layer == result.layers[1]
    assert by_name["requests"].layer == by_name["lodash"].layer == result.layers[2]
    assert by_name["libc6"].ecosystem == "Debian:12" and by_name["libc6"].lookup_name == "glibc"
    assert by_name["requests"].ecosystem == "PyPI"
    assert [p.kind for p in result.packages] == ["os", "os", "lang", "lang"]
    assert result.skipped == []


def test_whiteout_hides_package_of_lower_layer(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    base = gzip_layer(tar_of({**dist_info("urllib3", "1.26.5"), **dist_info("idna", "3.4")}))
    removal = gzip_layer(tar_of({"usr/lib/python3/dist-packages/.wh.urllib3-1.26.5.dist-info": b""}))
    layout.tag(layout.image([base, removal]), "latest")

    assert set(names(scan(layout, "latest"))) == {"idna"}


def test_whiteout_then_reinstall_belongs_to_the_reinstalling_layer(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    package = dist_info("six", "1.16.0")
    base = gzip_layer(tar_of(package))
    removal = gzip_layer(tar_of({"usr/lib/python3/dist-packages/.wh.six-1.16.0.dist-info": b""}))
    again = gzip_layer(tar_of(package))
    layout.tag(layout.image([base, removal, again]), "latest")

    result = scan(layout, "latest")
    assert names(result) == {"six": result.layers[2].digest}


def test_opaque_directory_hides_lower_contents_but_keeps_its_own(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    base = gzip_layer(tar_of({"srv/app/node_modules/old/package.json": '{"name":"old","version":"1.0.0"}'}))
    replaced = gzip_layer(
        tar_of(
            {
                "srv/app/node_modules/new/package.json": '{"name":"new","version":"2.0.0"}',
                # the marker may come after the directory's new files in the tar
                "srv/app/node_modules/.wh..wh..opq": b"",
            }
        )
    )
    layout.tag(layout.image([base, replaced]), "latest")

    assert set(names(scan(layout, "latest"))) == {"new"}


def test_whiteout_of_the_package_database_removes_all_its_packages(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    base = gzip_layer(tar_of({"etc/os-release": DEBIAN, "var/lib/dpkg/status": status(stanza("bash", "5.2-2"))}))
    wipe = gzip_layer(tar_of({"var/lib/dpkg/.wh.status": b""}))
    layout.tag(layout.image([base, wipe]), "latest")

    assert scan(layout, "latest").packages == []


def test_index_with_two_platforms_picks_amd64_by_default(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    amd64 = layout.image([gzip_layer(tar_of(dist_info("amd64-only", "1.0")))], architecture="amd64")
    arm64 = layout.image([gzip_layer(tar_of(dist_info("arm64-only", "1.0")))], architecture="arm64")
    index = layout.index([(arm64, "linux/arm64"), (amd64, "linux/amd64")])
    layout.tag(index, "multi")

    default = scan(layout, "multi")
    assert set(names(default)) == {"amd64-only"}
    assert default.manifest_digest == amd64["digest"]
    assert default.platform == "linux/amd64"
    arm = scan(layout, "multi", platform="linux/arm64")
    assert set(names(arm)) == {"arm64-only"}
    assert (arm.manifest_digest, arm.platform) == (arm64["digest"], "linux/arm64")
    with pytest.raises(NoMatchingPlatform, match="linux/amd64, linux/arm64"):
        scan(layout, "multi", platform="linux/s390x")


def test_layout_without_a_tag_is_read_through_its_index(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.entries.append(layout.image([plain_layer(tar_of(dist_info("solo", "1.0")))]))
    layout.tag(layout.image([plain_layer(tar_of(dist_info("other", "1.0")))]), "x")
    # two manifests and no reference: index.json itself is the index, each entry without a platform
    with pytest.raises(NoMatchingPlatform):
        scan(layout)


def test_zstd_plain_and_docker_gzip_layers(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    zstd = zstd_layer(tar_of(dist_info("from-zstd", "1.0")))
    plain = plain_layer(tar_of(dist_info("from-tar", "1.0")))
    docker = gzip_layer(tar_of(dist_info("from-docker", "1.0")))
    docker = LayerBlob(docker.blob, docker.tar, DOCKER_LAYER)
    layout.tag(layout.image([zstd, plain, docker]), "latest")

    result = scan(layout, "latest")
    assert set(names(result)) == {"from-zstd", "from-tar", "from-docker"}
    assert result.skipped == []


def test_truncated_gzip_layer_is_skipped_with_reason_and_the_rest_kept(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    good = gzip_layer(tar_of(dist_info("kept", "1.0")))
    big = tar_of(
        {
            **dist_info("early", "1.0"),
            "usr/share/filler.bin": random.Random(0).randbytes(1 << 20),
            **dist_info("late", "1.0"),
        }
    )
    compressed = gzip.compress(big, mtime=0)
    truncated = LayerBlob(compressed[: len(compressed) * 2 // 3], big, "application/vnd.oci.image.layer.v1.tar+gzip")
    after = gzip_layer(tar_of(dist_info("after", "1.0")))
    layout.tag(layout.image([good, truncated, after]), "latest")

    result = scan(layout, "latest")
    assert set(names(result)) == {"kept", "early", "after"}
    (reason,) = result.skipped
    assert reason.startswith(f"layer 2 ({result.layers[1].digest}): unreadable, kept what was read before:")
    assert "\n" not in reason


def test_tar_bomb_over_the_layer_cap_is_skipped(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    bomb_tar = tar_of({**dist_info("before-bomb", "1.0"), "zeros": bytes(8 << 20)})
    bomb = gzip_layer(bomb_tar)
    assert len(bomb.blob) < 64 << 10  # 8 MiB of zeros compress to a few KiB
    layout.tag(layout.image([bomb, gzip_layer(tar_of(dist_info("next", "1.0")))]), "latest")

    result = scan(layout, "latest", limits=Limits(max_layer_bytes=1 << 20))
    assert set(names(result)) == {"before-bomb", "next"}
    (reason,) = result.skipped
    assert "layer 1" in reason and "decompression bomb" in reason


def test_entry_count_cap(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    many = gzip_layer(tar_of({f"tmp/{n}": b"" for n in range(50)}))
    layout.tag(layout.image([many]), "latest")
    (reason,) = scan(layout, "latest", limits=Limits(max_entries=10)).skipped
    assert "over 10 entries" in reason


def test_file_over_the_per_file_cap_is_skipped_alone(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    huge_lock = json.dumps({"packages": {"node_modules/x": {"version": "1.0.0"}}, "pad": "x" * 4096})
    layer = gzip_layer(tar_of({"srv/package-lock.json": huge_lock, **dist_info("small", "1.0")}))
    layout.tag(layout.image([layer]), "latest")

    result = scan(layout, "latest", limits=Limits(max_file_bytes=1024))
    assert set(names(result)) == {"small"}
    (reason,) = result.skipped
    assert "/srv/package-lock.json" in reason and "per-file cap" in reason


def test_corrupt_rpmdb_is_skipped_with_reason(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    rocky = 'ID="rocky"\nVERSION_ID="9.3"\n'
    sqlite = (FIXTURES / "rpmdb" / "generated-sqlite" / "rpmdb.sqlite").read_bytes()
    base = gzip_layer(tar_of({"etc/os-release": rocky, "var/lib/rpm/rpmdb.sqlite": sqlite}))
    broken = gzip_layer(tar_of({"var/lib/rpm/rpmdb.sqlite": sqlite[:4096] + b"\xff" * 4096}))
    layout.tag(layout.image([base]), "good")
    layout.tag(layout.image([base, broken]), "broken")

    good = scan(layout, "good")
    (openssl,) = good.packages
    assert (openssl.name, openssl.version, openssl.ecosystem) == ("openssl-libs", "1:3.0.7-24.el9", "Rocky Linux:9")
    result = scan(layout, "broken")
    assert result.packages == []  # the rewritten database no longer says what is installed
    (reason,) = result.skipped
    assert reason.startswith("layer 2 (") and "/var/lib/rpm/rpmdb.sqlite" in reason


def test_go_binary_in_an_image(tmp_path: Path) -> None:
    binary = Path("/usr/bin/docker-registry")
    if not binary.is_file():
        pytest.skip("docker-registry is not installed")
    layout = Layout(tmp_path)
    layer = plain_layer(
        tar_of(
            {"usr/bin/registry": binary.read_bytes(), "usr/bin/notes.txt": "\x7fELF but not executable"},
            executable=("usr/bin/registry",),
        )
    )
    layout.tag(layout.image([layer]), "latest")
    result = scan(layout, "latest")
    assert [(p.name, p.path) for p in result.packages] == [("stdlib", "/usr/bin/registry")]


def test_symlinked_os_release_falls_back_to_the_vendor_file(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layer = gzip_layer(tar_of({"usr/lib/os-release": DEBIAN}, symlinks={"etc/os-release": "../usr/lib/os-release"}))
    layout.tag(layout.image([layer]), "latest")
    assert scan(layout, "latest").os.ecosystem == "Debian:12"


def test_helm_chart_is_not_an_image(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    config = layout.blob(b"{}", "application/vnd.cncf.helm.config.v1+json")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [],
    }
    layout.tag(layout.blob(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json"), "chart")
    with pytest.raises(UnsupportedImage):
        scan(layout, "chart")


def test_layer_whose_bytes_do_not_match_its_digest(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layer = gzip_layer(tar_of(dist_info("tampered", "1.0")))
    descriptor = layout.image([layer])
    layout.tag(descriptor, "latest")
    blob_path = layout.root / "blobs" / "sha256" / sha256(layer.blob).split(":")[1]
    blob_path.write_bytes(gzip.compress(tar_of(dist_info("tampered", "2.0")), mtime=0))
    (reason,) = scan(layout, "latest").skipped
    assert "does not match" in reason


def test_hard_link_to_a_kept_file(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    buffer = io.BytesIO()
    metadata = b"Metadata-Version: 2.1\nName: linked\nVersion: 1.0\n"
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("a/x.dist-info/METADATA")
        info.size = len(metadata)
        tar.addfile(info, io.BytesIO(metadata))
        link = tarfile.TarInfo("b/x.dist-info/METADATA")
        link.type = tarfile.LNKTYPE
        link.linkname = "a/x.dist-info/METADATA"
        tar.addfile(link)
    layout.tag(layout.image([gzip_layer(buffer.getvalue())]), "latest")
    assert sorted(p.path for p in scan(layout, "latest").packages) == [
        "/a/x.dist-info/METADATA",
        "/b/x.dist-info/METADATA",
    ]


def test_missing_layer_blob_is_skipped_and_the_others_read(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    gone = gzip_layer(tar_of(dist_info("gone", "1.0")))
    layout.tag(layout.image([gone, gzip_layer(tar_of(dist_info("here", "1.0")))]), "latest")
    (layout.root / "blobs" / "sha256" / sha256(gone.blob).split(":")[1]).unlink()

    result = scan(layout, "latest")
    assert set(names(result)) == {"here"}
    (reason,) = result.skipped
    assert reason.startswith("layer 1 (") and "not available" in reason


def test_layer_of_another_media_type_is_not_read(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    odd = LayerBlob(b"not a tar", b"not a tar", "application/vnd.example.data")
    layout.tag(layout.image([odd, gzip_layer(tar_of(dist_info("here", "1.0")))]), "latest")
    result = scan(layout, "latest")
    assert set(names(result)) == {"here"}
    assert result.skipped == [
        f"layer 1 ({result.layers[0].digest}): media type application/vnd.example.data is not a filesystem layer"
    ]


def test_lockfile_entry_installed_in_node_modules_is_listed_once(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    lock = {
        "lockfileVersion": 3,
        "packages": {"node_modules/lodash": {"version": "4.17.21"}, "node_modules/ms": {"version": "2.1.3"}},
    }
    layer = gzip_layer(
        tar_of(
            {
                "srv/app/package-lock.json": json.dumps(lock),
                "srv/app/node_modules/lodash/package.json": '{"name":"lodash","version":"4.17.21"}',
            }
        )
    )
    layout.tag(layout.image([layer]), "latest")
    found = sorted((p.name, p.path) for p in scan(layout, "latest").packages)
    assert found == [("lodash", "/srv/app/node_modules/lodash/package.json"), ("ms", "/srv/app/package-lock.json")]
