"""Where OSV records are imported from: `all.zip` exports (a path or an http(s) URL), folders of JSON
files, and osv-scanner's offline layout `<dir>/osv-scanner/<ECOSYSTEM>/all.zip`; read one at a time."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


class SourceError(Exception):
    """A source cannot be read (missing, not a zip, download failed)."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One record's bytes and where they came from ("npm/all.zip:GHSA-….json")."""

    origin: str
    data: bytes


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def download(url: str, folder: Path, timeout: float = 60.0) -> Path:
    """`url` saved under `folder` (a zip needs seeking, so it is not read from the socket)."""
    target = Path(tempfile.mkstemp(dir=folder, suffix=".zip")[1])
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as response:
            response.raise_for_status()
            with target.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
    except httpx.HTTPError as exc:
        target.unlink(missing_ok=True)
        raise SourceError(url, f"download failed: {exc}") from None
    return target


def files_of(path: Path) -> list[Path]:
    """The zips and JSON files a local source stands for, in a stable order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SourceError(str(path), "no such file or folder")
    # osv-scanner's cache folder (or its parent) holds one all.zip per ecosystem
    for root in (path / "osv-scanner", path):
        zips = sorted(root.glob("*/all.zip"))
        if zips:
            return zips
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".json", ".zip"))
    if not found:
        raise SourceError(str(path), "no OSV records (.json) or exports (.zip) in this folder")
    return found


def count(path: Path) -> int:
    """Records a file holds (for a progress bar); raises SourceError for a file that is not a zip."""
    if path.suffix == ".json":
        return 1
    with _open_zip(path) as archive:
        return sum(1 for info in archive.infolist() if info.filename.endswith(".json"))


def entries(path: Path, label: str | None = None) -> Iterator[Entry]:
    """The records of one file, one at a time."""
    label = label or str(path)
    if path.suffix == ".json":
        yield Entry(label, path.read_bytes())
        return
    with _open_zip(path) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".json"):
                try:
                    data = archive.read(info)
                except (zipfile.BadZipFile, OSError) as exc:
                    raise SourceError(f"{label}:{info.filename}", f"cannot read: {exc}") from None
                yield Entry(f"{label}:{info.filename}", data)


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(str(path), f"not a zip file ({exc})") from None
