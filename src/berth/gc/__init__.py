"""Online garbage collection, the pure part: a run's parameters as Harbor takes them, and what a run
reclaimed (or, dry, would reclaim). The collector itself is berth.services.gc."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: the job kind and execution vendor type, as Harbor names them
GC = "GARBAGE_COLLECTION"
MAX_WORKERS = 10


class GcParametersInvalid(ValueError):
    """Parameters Harbor refuses with 400 (the message is Harbor's)."""


@dataclass(frozen=True, slots=True)
class GcParameters:
    delete_untagged: bool = False
    dry_run: bool = False
    workers: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_parameters(raw: Mapping[str, Any] | None) -> GcParameters:
    """Harbor's GC parameters: an omitted bool is false, omitted (or 0) workers is 1, workers outside
    1..10 is refused with Harbor's message; other keys (delete_tag, time_window ...) are ignored."""
    raw = raw or {}
    workers = raw.get("workers", 0)
    if workers is None:
        workers = 0
    if isinstance(workers, bool) or not isinstance(workers, (int, float)) or int(workers) != workers:
        raise GcParametersInvalid(f"Error: Invalid number of workers:{str(workers)[:40]}. "
                                  f"Workers must be greater than 0 and less than or equal to {MAX_WORKERS}.")
    workers = int(workers)
    if "workers" in raw and not 1 <= workers <= MAX_WORKERS:
        raise GcParametersInvalid(f"Error: Invalid number of workers:{workers}. "
                                  f"Workers must be greater than 0 and less than or equal to {MAX_WORKERS}.")
    return GcParameters(
        delete_untagged=_flag(raw.get("delete_untagged")), dry_run=_flag(raw.get("dry_run")), workers=max(workers, 1))


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


@dataclass(slots=True)
class GcReport:
    """What a run freed (a dry run: would free). Harbor's check-in has freed_space, purged_blobs and
    purged_manifests; the rest is berth's."""

    dry_run: bool = False
    blobs: int = 0
    bytes: int = 0
    artifacts: int = 0
    links: int = 0
    uploads: int = 0
    orphan_files: int = 0
    repositories: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        verb = "would free" if self.dry_run else "freed"
        return (f"{verb} {self.bytes} bytes in {self.blobs} blob(s); artifacts {self.artifacts}, "
                f"blob links {self.links}, upload sessions {self.uploads}, orphan files {self.orphan_files}, "
                f"empty repositories {self.repositories}")

    def check_in(self) -> dict[str, Any]:
        return {"freed_space": self.bytes, "purged_blobs": self.blobs, "purged_manifests": self.artifacts,
                "purged_links": self.links, "purged_uploads": self.uploads, "purged_orphans": self.orphan_files,
                "purged_repositories": self.repositories, "dry_run": self.dry_run,
                "duration_seconds": round(self.seconds, 3)}
