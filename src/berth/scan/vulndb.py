"""The vulnerability database in berth's own SQL database: import OSV exports as a new generation of
rows, make it live in one transaction, and look records up by (ecosystem, package name)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import ColumnElement, delete, select, update

from berth.db.models import VulnDbState, VulnRecord
from berth.db.session import Database
from berth.scan import osv_sources
from berth.scan.osv import InvalidRecord, Record, is_withdrawn, lookup_name, packages, parse_record, same_ecosystem
from berth.scan.versions import ecosystem_family

_STATE_ID = 1
#: rows per INSERT batch; each batch is its own short write transaction, so a long import never
#: holds SQLite's write lock for more than a moment
BATCH = 2000
#: how long a lookup trusts the live generation it read (an import elsewhere shows within this time)
GENERATION_TTL = 2.0


class ImportConflict(Exception):
    """Another import made its set live while this one ran; this one's rows were removed."""


@dataclass(slots=True)
class ImportReport:
    generation: int = 0
    loaded: int = 0
    withdrawn: int = 0
    #: records without any (ecosystem, name) to index them by (only GIT ranges, for instance)
    unindexed: int = 0
    #: (where the record came from, why it was refused)
    invalid: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    max_modified: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class DbStatus:
    generation: int
    records: int
    counts: dict[str, int]
    source: str
    max_modified: str | None
    imported_at: datetime | None

    def age(self, now: datetime | None = None) -> float | None:
        """Seconds since the import, None when nothing was imported."""
        if self.imported_at is None:
            return None
        imported = self.imported_at if self.imported_at.tzinfo else self.imported_at.replace(tzinfo=UTC)
        return ((now or datetime.now(UTC)) - imported).total_seconds()


class _Progress:
    """Callbacks an importer reports to (a rich progress bar in the CLI)."""

    def __init__(self, add_total: Callable[[int], None] | None, advance: Callable[[int], None] | None) -> None:
        self.add_total = add_total or (lambda _n: None)
        self.advance = advance or (lambda _n: None)


class VulnDB:
    """Records by (ecosystem, package name) from the live generation, with a small LRU in front."""

    def __init__(self, db: Database, cache_size: int = 4096) -> None:
        self._db = db
        self._cache: OrderedDict[tuple[int, str, str], list[Record]] = OrderedDict()
        self._cache_size = cache_size
        self._generation: tuple[float, int] | None = None

    # --- reading -------------------------------------------------------------------------------

    async def _live_generation(self) -> int:
        now = time.monotonic()
        if self._generation is None or now - self._generation[0] > GENERATION_TTL:
            async with self._db.read() as conn:
                value = await conn.scalar(select(VulnDbState.generation).where(VulnDbState.id == _STATE_ID))
            self._generation = (now, value or 0)
        return self._generation[1]

    async def records_for(self, ecosystem: str, name: str) -> list[Record]:
        """The live records with an `affected` entry for package `name` in `ecosystem`."""
        generation = await self._live_generation()
        if not generation:
            return []
        prefix, key_name = ecosystem_family(ecosystem), lookup_name(ecosystem, name)
        key = (generation, prefix, key_name)
        rows: list[Record] | None = self._cache.get(key)
        if rows is None:
            async with self._db.read() as conn:
                result = await conn.execute(
                    select(VulnRecord.record).where(
                        VulnRecord.generation == generation,
                        VulnRecord.ecosystem_prefix == prefix,
                        VulnRecord.name == key_name,
                    )
                )
                rows = [orjson.loads(text) for (text,) in result]
            self._cache[key] = rows
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return [r for r in rows if any(same_ecosystem(e, ecosystem) for e, _ in packages(r))]

    async def status(self) -> DbStatus:
        async with self._db.read() as conn:
            state = (await conn.execute(select(VulnDbState).where(VulnDbState.id == _STATE_ID))).first()
        if state is None or not state.generation:
            return DbStatus(0, 0, {}, "", None, None)
        return DbStatus(
            generation=state.generation,
            records=state.records,
            counts=orjson.loads(state.counts),
            source=state.source,
            max_modified=state.max_modified,
            imported_at=state.imported_at,
        )

    # --- importing -----------------------------------------------------------------------------

    async def import_sources(
        self,
        sources: Sequence[str],
        add_total: Callable[[int], None] | None = None,
        advance: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Load every record of `sources` (paths or URLs) as a new generation, then make it live.

        Invalid records are counted and listed, not loaded; withdrawn ones are skipped. Any error
        (an unreadable source, the database) leaves the previous set live and removes what this
        import wrote."""
        started = time.monotonic()
        progress = _Progress(add_total, advance)
        old, generation = await self._begin()
        report = ImportReport(generation=generation)
        try:
            with tempfile.TemporaryDirectory(prefix="berth-vulndb-") as scratch:
                batches = _read_batches(sources, Path(scratch), generation, report, progress)
                # reading, unzipping and validating run in a thread: a server's event loop keeps serving
                while (batch := await asyncio.to_thread(next, batches, None)) is not None:
                    await self._insert(batch)
            await self._make_live(old, generation, sources, report)
        except BaseException:
            await self._remove(VulnRecord.generation == generation)
            raise
        # the previous set, and what an import that died part-way left (imports still running have a
        # higher number, or a lower one and will fail their fenced flip)
        await self._remove(VulnRecord.generation < generation)
        self._generation = None
        report.seconds = time.monotonic() - started
        return report

    async def _begin(self) -> tuple[int, int]:
        """(live generation, a new generation number no other import has)."""
        async with self._db.write() as conn:
            state = self._db.insert(VulnDbState).values(
                id=_STATE_ID, generation=0, next_generation=1, source="", counts="{}", records=0
            )
            await conn.execute(state.on_conflict_do_nothing(index_elements=["id"]))
            row = (
                await conn.execute(
                    select(VulnDbState.generation, VulnDbState.next_generation)
                    .where(VulnDbState.id == _STATE_ID)
                    .with_for_update()  # PostgreSQL; SQLite's write transaction is already exclusive
                )
            ).one()
            await conn.execute(
                update(VulnDbState).where(VulnDbState.id == _STATE_ID).values(next_generation=row.next_generation + 1)
            )
        return row.generation, row.next_generation

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        async with self._db.write() as conn:
            await conn.execute(VulnRecord.__table__.insert(), rows)

    async def _make_live(self, old: int, generation: int, sources: Sequence[str], report: ImportReport) -> None:
        async with self._db.write() as conn:
            # fenced on the generation this import started from: two imports at once cannot both win
            result = await conn.execute(
                update(VulnDbState)
                .where(VulnDbState.id == _STATE_ID, VulnDbState.generation == old)
                .values(
                    generation=generation,
                    source="\n".join(sources),
                    counts=orjson.dumps(report.counts).decode(),
                    records=report.loaded,
                    max_modified=report.max_modified,
                    imported_at=datetime.now(UTC),
                )
            )
            if result.rowcount != 1:
                raise ImportConflict("another import replaced the vulnerability database meanwhile")

    async def _remove(self, which: ColumnElement[bool]) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(VulnRecord).where(which))


def _files(source: str, scratch: Path) -> list[Path]:
    if osv_sources.is_url(source):
        return [osv_sources.download(source, scratch)]
    return osv_sources.files_of(Path(source))


def _read_batches(
    sources: Sequence[str], scratch: Path, generation: int, report: ImportReport, progress: _Progress
) -> Iterator[list[dict[str, Any]]]:
    """Rows of the valid, live records of `sources`, BATCH at a time; the report counts the rest."""
    seen: set[str] = set()
    batch: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for source in sources:
        for path in _files(source, scratch):
            progress.add_total(osv_sources.count(path))
            label = source if osv_sources.is_url(source) else str(path)
            for entry in osv_sources.entries(path, label):
                progress.advance(1)
                try:
                    record = parse_record(entry.data)
                except InvalidRecord as exc:
                    report.invalid.append((entry.origin, exc.reason))
                    continue
                if record["id"] in seen:  # the same record in two ecosystems' exports
                    continue
                seen.add(record["id"])
                if is_withdrawn(record):
                    report.withdrawn += 1
                    continue
                rows = _rows(record, generation)
                if not rows:
                    report.unindexed += 1
                    continue
                report.loaded += 1
                counts.update({row["ecosystem_prefix"] for row in rows})
                modified = record.get("modified")
                if modified and (report.max_modified is None or modified > report.max_modified):
                    report.max_modified = modified
                batch.extend(rows)
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
    report.counts = dict(sorted(counts.items()))
    if batch:
        yield batch


def _rows(record: Record, generation: int) -> list[dict[str, Any]]:
    """One row per (ecosystem, name) the record affects, each holding the whole record."""
    text = orjson.dumps(record).decode()
    keys = {(ecosystem, lookup_name(ecosystem, name)) for ecosystem, name in packages(record)}
    return [
        {
            "generation": generation,
            "ecosystem_prefix": ecosystem_family(ecosystem),
            "ecosystem": ecosystem,
            "name": name,
            "record_id": record["id"],
            "record": text,
        }
        for ecosystem, name in sorted(keys)
    ]
