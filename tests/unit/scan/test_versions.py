"""Version ordering agrees with osv-scalibr's ordering lists (made with dpkg, apk, rpm, pip, Maven, gem)."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.scan.versions import UnparseableVersion, UnsupportedEcosystem, compare, parse_version

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scanning" / "semantic"

#: fixture file -> the OSV ecosystem whose ordering it checks (semver's list serves npm, crates.io and Go)
ORDERINGS = {
    "alpine-versions.txt": ("Alpine:v3.19",),
    "alpine-versions-generated.txt": ("Alpine:v3.19",),
    "debian-versions.txt": ("Debian:12", "Ubuntu:22.04:LTS"),
    "debian-versions-generated.txt": ("Debian:12",),
    "redhat-versions.txt": ("Red Hat", "AlmaLinux:9", "Rocky Linux:9"),
    "pypi-versions.txt": ("PyPI",),
    "pypi-versions-generated.txt": ("PyPI",),
    "semver-versions.txt": ("npm", "crates.io", "Go"),
    "maven-versions.txt": ("Maven",),
    "maven-versions-generated.txt": ("Maven",),
    "rubygems-versions.txt": ("RubyGems",),
    "rubygems-versions-generated.txt": ("RubyGems",),
    "nuget-versions.txt": ("NuGet",),
    "packagist-versions.txt": ("Packagist",),
    "packagist-versions-generated.txt": ("Packagist",),
}

#: ecosystems of the remaining files, for which berth has no ordering yet
UNSUPPORTED = {
    "cran-versions.txt": "CRAN",
    "cran-versions-generated.txt": "CRAN",
    "hackage-versions.txt": "Hackage",
    "pub-versions.txt": "Pub",
}

#: (file, line) -> why berth disagrees with osv-scalibr there. Each is a univers behaviour kept on purpose.
ALLOWED = {
    ("maven-versions.txt", "1release = 1"): "univers implements Maven 3.8's ComparableVersion, where "
    "'release' is a plain qualifier; Maven 3.9 made it an alias of '' (so are the next three)",
    ("maven-versions.txt", "1RELEASE = 1"): "as '1release = 1' (Maven 3.9 alias, case-insensitive)",
    ("maven-versions.txt", "1RELeaSE = 1"): "as '1release = 1' (Maven 3.9 alias, case-insensitive)",
    ("maven-versions.txt", "1-1 = 1-ga-1"): "Maven 3.9 drops 'ga' inside a list item; univers (3.8 rules) keeps it",
    ("maven-versions-generated.txt", "4.1.0 = 4.1.0.RELEASE"): "Maven 3.9 'release' alias, see above",
    ("maven-versions-generated.txt", "5.2.0 = 5.2.0.RELEASE"): "Maven 3.9 'release' alias, see above",
    ("maven-versions-generated.txt", "v0.0.5 < 0.0.1.beta6"): "a leading 'v' is a string item; univers "
    "orders it above numbers, Maven 3.9 below (a 'v'-prefixed Maven version is rare in OSV ranges)",
    ("maven-versions-generated.txt", "v6.4.0-RC6 < 5.0.0.M1"): "leading 'v', as 'v0.0.5 < 0.0.1.beta6'",
    ("rubygems-versions.txt", "1 > 1beta"): "univers follows Gem::Version's pattern, which needs a dot "
    "before letters: '1beta' is rejected (UnparseableVersion), so the matcher falls back to exact versions",
    ("rubygems-versions.txt", "1 > 1gamma"): "as '1 > 1beta'",
}

_EXPECTED = {"<": -1, "=": 0, ">": 1}


def _comparisons(name: str) -> list[tuple[str, str, str]]:
    lines = (FIXTURES / name).read_text().splitlines()
    return [tuple(line.split(" ")) for line in lines if line.strip() and not line.startswith(("#", "//"))]  # type: ignore[misc]


def _disagreements(name: str, ecosystem: str) -> set[str]:
    failed = set()
    for a, op, b in _comparisons(name):
        line = f"{a} {op} {b}"
        try:
            # both ways round: an ordering that is not antisymmetric is wrong even when one side agrees
            if compare(ecosystem, a, b) != _EXPECTED[op] or compare(ecosystem, b, a) != -_EXPECTED[op]:
                failed.add(line)
        except UnparseableVersion:
            failed.add(line)
    return failed


@pytest.mark.parametrize(
    ("name", "ecosystem"), [(name, eco) for name, ecos in ORDERINGS.items() for eco in ecos]
)
def test_ordering_agrees_with_ecosystem_tools(name: str, ecosystem: str) -> None:
    assert len(_comparisons(name)) > 5
    allowed = {line for (file, line) in ALLOWED if file == name}
    assert _disagreements(name, ecosystem) == allowed


def test_every_ordering_file_is_checked() -> None:
    assert {p.name for p in FIXTURES.glob("*-versions*.txt")} == set(ORDERINGS) | set(UNSUPPORTED)


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_ecosystems_without_ordering_say_so(name: str) -> None:
    a, _, _ = _comparisons(name)[0]
    with pytest.raises(UnsupportedEcosystem):
        parse_version(UNSUPPORTED[name], a)


def test_release_suffix_of_ecosystem_does_not_change_ordering() -> None:
    assert compare("Debian:7", "1.2.1-2.2+wheezy2", "1.2.1-2.2+wheezy3") == -1
    assert compare("Ubuntu:Pro:14.04:LTS", "3.13.0-44.73", "3.13.0-44.73") == 0


def test_go_module_versions_compare_without_their_v() -> None:
    assert compare("Go", "v1.2.3", "1.2.3") == 0
    assert compare("Go", "v0.0.0-20210101000000-abcdef123456", "0.0.1") == -1


@pytest.mark.parametrize(
    ("ecosystem", "text"), [("Debian:12", "1.2.3-not-a-debian:version!@#$"), ("npm", "not.a.version"), ("Debian:12", "")]
)
def test_unparseable_version_is_its_own_error(ecosystem: str, text: str) -> None:
    with pytest.raises(UnparseableVersion) as caught:
        parse_version(ecosystem, text)
    assert caught.value.ecosystem == ecosystem
    assert isinstance(caught.value, ValueError)
