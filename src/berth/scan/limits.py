"""How much of an image the walk may read: the caps that keep a hostile image from exhausting us."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps of one image walk. Going over one skips that file or layer with a reason, never the scan."""

    #: one file read whole for a detector; larger files are skipped (a full CentOS 7 rpm
    #: `Packages` database reaches ~100 MiB, Go binaries a few hundred MiB)
    max_file_bytes: int = 256 << 20
    #: bytes of wanted files read from one layer (what is held in memory for detection)
    max_kept_bytes: int = 2 << 30
    #: uncompressed bytes of one layer's tar stream; above this it is treated as a decompression bomb
    max_layer_bytes: int = 16 << 30
    #: tar entries in one layer (a tar of millions of empty files is a bomb too)
    max_entries: int = 1_000_000
    #: archives inside archives a detector opens: a jar is depth 1, a jar inside a war depth 2
    max_archive_depth: int = 2
