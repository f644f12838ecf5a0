"""How the C heap of a long-running berth process gives memory back (glibc's malloc tunables).

Blob bodies pass through in buffers of up to a few MiB, allocated and freed on the event loop and
on hashing threads. glibc's defaults keep such memory: its mmap threshold rises to the largest
buffer freed so far (after which big buffers come from the heap and stay there), and each thread
that allocates may get an arena of its own. Fixing the threshold and capping the arenas makes the
peak RSS follow what is in use, at the cost of an mmap/munmap per large buffer (microseconds,
against the milliseconds it takes to fill one from a socket).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: buffers this large or larger are mapped on their own and unmapped when freed
MMAP_THRESHOLD = 256 * 1024
#: the main arena and one for every other thread
ARENA_MAX = 2


def tune_heap() -> bool:
    """Apply the tunables where the C library is glibc; True if applied."""
    if platform.libc_ver()[0] != "glibc":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    applied = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return libc.mallopt(_M_ARENA_MAX, ARENA_MAX) == 1 and applied
