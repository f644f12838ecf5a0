"""The image's filesystem as detectors see it: what each kept file yielded, layer over layer, whiteouts applied.

Only files some detector wanted are in the view, each with what it yielded and the layer that wrote it.
Pure bookkeeping; reading the layers is `layers.py`'s business.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from berth.scan.detect.base import Found
from berth.scan.model import Package


@dataclass(frozen=True, slots=True)
class Kept:
    layer: int
    found: tuple[Found, ...]


class View:
    def __init__(self) -> None:
        self._files: dict[str, Kept] = {}

    def __contains__(self, path: str) -> bool:
        return path in self._files

    def __len__(self) -> int:
        return len(self._files)

    def put(self, path: str, layer: int, found: list[Found]) -> None:
        """The file at path as `layer` wrote it (nothing found: it no longer yields anything)."""
        if found:
            self._files[path] = Kept(layer, tuple(found))
        else:
            self._files.pop(path, None)

    def link(self, path: str, target: str, layer: int) -> None:
        """A hard link: path yields what target does, found at path."""
        kept = self._files.get(target)
        self.put(path, layer, [_moved(found, target, path) for found in kept.found] if kept else [])

    def drop(self, path: str) -> None:
        """Something that is not a kept file (a directory, a symlink, an unwanted file) replaced path."""
        self._files.pop(path, None)

    def whiteout(self, path: str, layer: int) -> None:
        """`.wh.<name>`: path and everything below it from lower layers is gone."""
        below = path.rstrip("/") + "/"
        for name in [n for n, kept in self._files.items() if kept.layer < layer and (n == path or n.startswith(below))]:
            del self._files[name]

    def opaque(self, directory: str, layer: int) -> None:
        """`.wh..wh..opq`: the directory's contents from lower layers are hidden (its own layer's stay)."""
        below = directory.rstrip("/") + "/"
        for name in [n for n, kept in self._files.items() if kept.layer < layer and n.startswith(below)]:
            del self._files[name]

    def items(self) -> Iterator[tuple[str, Found]]:
        """Every (path, finding) in the current view."""
        for path, kept in self._files.items():
            for found in kept.found:
                yield path, found


def _moved(found: Found, old: str, new: str) -> Found:
    """What a file yields, as seen under another name (a package found inside a jar keeps its inner path)."""
    if isinstance(found, Package) and found.path is not None and found.path.startswith(old):
        return dataclasses.replace(found, path=new + found.path[len(old) :])
    return found
