"""Version ordering per OSV ecosystem: `parse_version("Debian:12", "1.2-3")` gives a value that
compares (<, ==) like the ecosystem's own tool (dpkg, apk, rpm, pip, node-semver, Maven, gem)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache, total_ordering
from typing import Any, Protocol

from packaging.version import InvalidVersion as _PepInvalid
from packaging.version import Version as _PepVersion
from univers import versions as univers_versions


class UnparseableVersion(ValueError):
    """The text is not a version of that ecosystem."""

    def __init__(self, ecosystem: str, text: str, reason: str = "") -> None:
        self.ecosystem = ecosystem
        self.text = text
        super().__init__(f"not a {ecosystem} version: {text!r}" + (f" ({reason})" if reason else ""))


class UnsupportedEcosystem(LookupError):
    """berth has no version ordering for this OSV ecosystem."""

    def __init__(self, ecosystem: str) -> None:
        self.ecosystem = ecosystem
        super().__init__(f"no version ordering for ecosystem {ecosystem!r}")


class Version(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...


@total_ordering
class _Compared:
    """A version ordered by a three-way comparison function rather than a sort key."""

    __slots__ = ("parsed", "_cmp")

    def __init__(self, parsed: Any, cmp: Callable[[Any, Any], int]) -> None:
        self.parsed = parsed
        self._cmp = cmp

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Compared) and self._cmp(self.parsed, other.parsed) == 0

    def __lt__(self, other: _Compared) -> bool:
        return self._cmp(self.parsed, other.parsed) < 0

    def __hash__(self) -> int:  # pragma: no cover - versions are compared, not hashed
        raise TypeError("versions are not hashable")


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


# --- Alpine (apk-tools: number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}) ---------------

_APK_NUMBERS = re.compile(r"(?:\d+\.?)*")
_APK_SUFFIX = re.compile(r"_(alpha|beta|pre|rc|cvs|svn|git|hg|p)(\d*)")
_APK_HASH = re.compile(r"~[0-9a-f]+")
_APK_BUILD = re.compile(r"-r(\d*)")
#: suffix weights; "" (no suffix) sits between the pre-releases and the post-releases
_APK_SUFFIX_ORDER = {s: i for i, s in enumerate(("alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"))}
_APK_NO_SUFFIX = (_APK_SUFFIX_ORDER[""], 0)


def _parse_apk(text: str) -> tuple[Any, ...]:
    rest = text
    numbers_text = _APK_NUMBERS.match(rest).group()  # type: ignore[union-attr]
    numbers: list[str] = []
    for part in numbers_text.split(".") if numbers_text else ():
        if not part:  # apk tolerates a dot not followed by a digit: the numbers end there
            break
        numbers.append(part)
    rest = rest[len(numbers_text):]
    letter = ""
    if rest[:1].isascii() and rest[:1].islower():
        letter, rest = rest[0], rest[1:]
    suffixes: list[tuple[int, int]] = []
    # every suffix found counts, but only those at the front are consumed (as apk's own parser does)
    for match in _APK_SUFFIX.finditer(rest):
        suffixes.append((_APK_SUFFIX_ORDER[match.group(1)], int(match.group(2) or 0)))
        if rest.startswith(match.group()):
            rest = rest[len(match.group()):]
    hash_match = _APK_HASH.match(rest)
    if hash_match:
        rest = rest[hash_match.end():]
    build = 0
    invalid = False
    if rest:
        build_match = _APK_BUILD.match(rest)
        if build_match:
            build = int(build_match.group(1) or 0)
            rest = rest[build_match.end():]
        else:
            invalid = True
    return (text, invalid, numbers, letter, suffixes, build, rest)


def _cmp_apk_number(a: str, b: str, first: bool) -> int:
    # after the first component a leading zero makes apk compare the digits as text ("1.02" < "1.1")
    if not first and (a[0] == "0" or b[0] == "0"):
        return _sign((a > b) - (a < b))
    return _sign(int(a) - int(b))


def _cmp_apk(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
    a_text, a_invalid, a_numbers, a_letter, a_suffixes, a_build, a_rest = a
    b_text, b_invalid, b_numbers, b_letter, b_suffixes, b_build, b_rest = b
    if a_invalid and b_invalid:
        return _sign((a_text > b_text) - (a_text < b_text))
    for i in range(max(len(a_numbers), len(b_numbers))):
        x = a_numbers[i] if i < len(a_numbers) else "0"
        y = b_numbers[i] if i < len(b_numbers) else "0"
        if diff := _cmp_apk_number(x, y, first=(i >= len(a_numbers) or i >= len(b_numbers) or i == 0)):
            return diff
    if a_letter != b_letter:
        if not a_letter or not b_letter:
            return 1 if a_letter else -1
        return 1 if a_letter > b_letter else -1
    for i in range(max(len(a_suffixes), len(b_suffixes))):
        x = a_suffixes[i] if i < len(a_suffixes) else _APK_NO_SUFFIX
        y = b_suffixes[i] if i < len(b_suffixes) else _APK_NO_SUFFIX
        if x != y:
            return 1 if x > y else -1
    if a_build != b_build:
        return 1 if a_build > b_build else -1
    if bool(a_rest) != bool(b_rest):  # trailing garbage sorts below a clean version
        return -1 if a_rest else 1
    return 0


# --- RPM (rpmvercmp on epoch, version and release) --------------------------------------------

_RPM_SEPARATORS = re.compile(r"[^A-Za-z0-9~^]+")
_RPM_DIGITS = re.compile(r"[0-9]+")
_RPM_LETTERS = re.compile(r"[A-Za-z]+")


def _parse_rpm(text: str) -> tuple[str, str, str]:
    epoch, colon, rest = text.partition(":")
    # a non-numeric "epoch" is not one: the colon belongs to the version
    if not colon or not epoch.isdigit() or not epoch.isascii():
        epoch, rest = "0", text
    version, dash, release = rest.partition("-")
    return (epoch or "0", version, dash + release)


def _rpmvercmp(a: str, b: str) -> int:
    if not a or not b:
        return (a != "") - (b != "")
    i = j = 0
    while True:
        if m := _RPM_SEPARATORS.match(a, i):
            i = m.end()
        if m := _RPM_SEPARATORS.match(b, j):
            j = m.end()
        ca, cb = a[i:i + 1], b[j:j + 1]
        if ca == "~" or cb == "~":  # tilde sorts before anything, even the end
            if ca == cb:
                i, j = i + 1, j + 1
                continue
            return -1 if ca == "~" else 1
        if ca == "^" or cb == "^":  # caret sorts after the end but before anything else
            if ca == cb:
                i, j = i + 1, j + 1
                continue
            if ca == "^":
                return 1 if j == len(b) else -1
            return -1 if i == len(a) else 1
        if i == len(a) or j == len(b):
            break
        pattern = _RPM_DIGITS if ca.isdigit() else _RPM_LETTERS
        ma, mb = pattern.match(a, i), pattern.match(b, j)
        sa = ma.group() if ma else ""
        sb = mb.group() if mb else ""
        i, j = i + len(sa), j + len(sb)
        if not sb:
            return 1 if pattern is _RPM_DIGITS else -1
        if pattern is _RPM_DIGITS:
            sa, sb = sa.lstrip("0"), sb.lstrip("0")
            if len(sa) != len(sb):
                return 1 if len(sa) > len(sb) else -1
        if sa != sb:
            return 1 if sa > sb else -1
    return _sign((len(a) - i) - (len(b) - j))


def _cmp_rpm(a: tuple[str, str, str], b: tuple[str, str, str]) -> int:
    for x, y in zip(a, b):
        if diff := _rpmvercmp(x, y):
            return diff
    return 0


# --- PyPI (PEP 440, with pre-PEP 440 "legacy" versions sorted below every valid one) -------------

_LEGACY_PARTS = re.compile(r"\d+|[a-z]+|\.|-")
_LEGACY_REPLACE = {"pre": "c", "preview": "c", "-": "final-", "rc": "c", "dev": "@"}


def _legacy_key(text: str) -> str:
    """setuptools' old LegacyVersion ordering (what pip used before PEP 440)."""
    parts: list[str] = []
    for part in [*_LEGACY_PARTS.findall(text.lower()), "final"]:
        if part == ".":
            continue
        part = _LEGACY_REPLACE.get(part, part)
        part = part.zfill(8) if part[0].isdigit() else "*" + part
        if part.startswith("*"):
            if part < "*final":
                while parts and parts[-1] == "*final-":
                    parts.pop()
            while parts and parts[-1] == "00000000":
                parts.pop()
        parts.append(part)
    return "".join(parts)


def _parse_pypi(text: str) -> tuple[int, Any]:
    try:
        return (1, _PepVersion(text))
    except _PepInvalid:
        return (0, _legacy_key(text))


@total_ordering
class _PypiVersion:
    __slots__ = ("key",)

    def __init__(self, text: str) -> None:
        self.key = _parse_pypi(text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _PypiVersion) and self.key == other.key

    def __lt__(self, other: _PypiVersion) -> bool:
        return self.key < other.key

    def __hash__(self) -> int:
        return hash(self.key)


# --- Packagist (PHP's version_compare on the canonical form composer uses) ----------------------

_PHP_SEPARATORS = re.compile(r"[-_+]")
_PHP_LETTER_DIGIT = re.compile(r"([^\d.])(\d)")
_PHP_DIGIT_LETTER = re.compile(r"(\d)([^\d.])")
#: version_compare's special forms by prefix; "#" stands for a number, anything unknown weighs as "dev"
_PHP_SPECIALS = (("dev", 0), ("a", 1), ("b", 2), ("RC", 3), ("rc", 3), ("#", 4), ("p", 5))


def _parse_php(text: str) -> list[str]:
    text = text[1:] if text[:1] in ("v", "V") else text
    text = _PHP_SEPARATORS.sub(".", text)
    text = _PHP_DIGIT_LETTER.sub(r"\1.\2", _PHP_LETTER_DIGIT.sub(r"\1.\2", text))
    return text.split(".")


def _is_number(part: str) -> bool:
    return part.isascii() and part.isdigit()


def _php_weight(part: str) -> int:
    return next((weight for prefix, weight in _PHP_SPECIALS if part.startswith(prefix)), 0)


def _cmp_php(a: list[str], b: list[str]) -> int:
    for x, y in zip(a, b):
        if _is_number(x) and _is_number(y):
            diff = _sign(int(x) - int(y))
        else:  # a number against a word weighs as "#"
            diff = _sign(_php_weight("#" if _is_number(x) else x) - _php_weight("#" if _is_number(y) else y))
        if diff:
            return diff
    if len(a) == len(b):
        return 0
    # the longer one wins on a further number; a further word is weighed against a number ("1.0" > "1.0-beta")
    if len(a) > len(b):
        return 1 if _is_number(a[len(b)]) else _cmp_php(a[len(b):], ["#"])
    return -1 if _is_number(b[len(a)]) else _cmp_php(["#"], b[len(a):])


# --- the table ---------------------------------------------------------------------------------


def _by_univers(cls: type[univers_versions.Version]) -> Callable[[str], Version]:
    def parse(text: str) -> Version:
        return cls(text)

    return parse


def _go(text: str) -> Version:
    # Go modules are "v1.2.3"; OSV ranges say "1.2.3"
    return univers_versions.SemverVersion(text[1:] if text.startswith("v") else text)


def _compared(parser: Callable[[str], Any], cmp: Callable[[Any, Any], int]) -> Callable[[str], Version]:
    def parse(text: str) -> Version:
        return _Compared(parser(text), cmp)

    return parse


_DPKG = _by_univers(univers_versions.DebianVersion)
_APK = _compared(_parse_apk, _cmp_apk)
_RPM = _compared(_parse_rpm, _cmp_rpm)
_SEMVER = _by_univers(univers_versions.SemverVersion)

#: ecosystem (the part of OSV's ecosystem string before ":") -> parser
_PARSERS: dict[str, Callable[[str], Version]] = {
    "Debian": _DPKG,
    "Ubuntu": _DPKG,
    "Alpine": _APK,
    "Chainguard": _APK,
    "Wolfi": _APK,
    "Alpaquita": _APK,
    "Red Hat": _RPM,
    "AlmaLinux": _RPM,
    "Rocky Linux": _RPM,
    "openSUSE": _RPM,
    "SUSE": _RPM,
    "Photon OS": _RPM,
    "Azure Linux": _RPM,
    "Mageia": _RPM,
    "openEuler": _RPM,
    "PyPI": _PypiVersion,
    "npm": _SEMVER,
    "crates.io": _SEMVER,
    "Go": _go,
    # not an ecosystem: OSV's SEMVER range type, whatever the package's ecosystem
    "SEMVER": _go,
    "Maven": _by_univers(univers_versions.MavenVersion),
    "RubyGems": _by_univers(univers_versions.RubygemsVersion),
    "NuGet": _by_univers(univers_versions.NugetVersion),
    # univers' ComposerVersion disagrees with composer on 700 of osv-scalibr's 10,600 Packagist orderings
    "Packagist": _compared(_parse_php, _cmp_php),
}


def ecosystem_family(ecosystem: str) -> str:
    """OSV's ecosystem without its release: "Debian:12" -> "Debian", "Ubuntu:Pro:18.04:LTS" -> "Ubuntu"."""
    return ecosystem.split(":", 1)[0]


def is_supported(ecosystem: str) -> bool:
    return ecosystem_family(ecosystem) in _PARSERS


@lru_cache(maxsize=65536)
def parse_version(ecosystem: str, text: str) -> Version:
    """`text` as an ordered version of `ecosystem` (OSV's string; the release part is ignored).

    Raises UnsupportedEcosystem, or UnparseableVersion when the ecosystem's rules reject `text`."""
    parser = _PARSERS.get(ecosystem_family(ecosystem))
    if parser is None:
        raise UnsupportedEcosystem(ecosystem)
    if not text:
        raise UnparseableVersion(ecosystem, text, "empty")
    try:
        return parser(text)
    except (ValueError, TypeError, AttributeError) as exc:  # univers raises all three
        raise UnparseableVersion(ecosystem, text, str(exc)) from None


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as `a` sorts before, with or after `b` in `ecosystem`."""
    x, y = parse_version(ecosystem, a), parse_version(ecosystem, b)
    return -1 if x < y else (1 if y < x else 0)
