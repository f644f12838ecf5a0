"""One behaviour suite that every blob storage driver must pass."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from berth.storage import BlobNotFound, StorageDriver
from berth.storage.objectstore import ObjectStoreDriver
from tests.memory import PeakRss

MiB = 1 << 20
KEY = "blobs/sha256/ab/abcdef/data"
DATA = bytes(range(256)) * 40  # 10 KiB, every offset distinguishable


async def stream(data: bytes, chunk_size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk_size):
        yield data[start : start + chunk_size]


async def repeated(block: bytes, count: int) -> AsyncIterator[bytes]:
    """count copies of block without holding more than one in memory."""
    for _ in range(count):
        yield block


async def failing_after(data: bytes, chunk_size: int) -> AsyncIterator[bytes]:
    async for chunk in stream(data, chunk_size):
        yield chunk
    raise RuntimeError("client went away")


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def listed(driver: StorageDriver, prefix: str) -> set[str]:
    return {key async for key in driver.list(prefix)}


async def test_write_then_stat_and_read_round_trip(driver: StorageDriver) -> None:
    assert await driver.write(KEY, stream(DATA, 1000)) == len(DATA)

    assert await driver.stat(KEY) == len(DATA)
    assert await collect(driver.read(KEY)) == DATA


async def test_modified_tells_when_an_object_was_written_and_none_when_missing(driver: StorageDriver) -> None:
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC) - timedelta(seconds=5)
    await driver.write("blobs/sha256/ab/abmodified/data", stream(b"x"))
    when = await driver.modified("blobs/sha256/ab/abmodified/data")
    assert when is not None and when.tzinfo is not None
    assert before <= when <= datetime.now(UTC) + timedelta(seconds=5)
    assert await driver.modified("blobs/sha256/ab/abnothing/data") is None


async def test_empty_stream_stores_an_empty_object(driver: StorageDriver) -> None:
    assert await driver.write(KEY, stream(b"")) == 0

    assert await driver.stat(KEY) == 0
    assert await collect(driver.read(KEY)) == b""


async def test_stat_of_missing_key_is_none(driver: StorageDriver) -> None:
    assert await driver.stat(KEY) is None


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, None),
        (100, None),
        (100, 50),
        (0, 1),
        (len(DATA) - 1, 10),  # a range past the end is cut at the end
        (len(DATA), None),  # at the end: empty
        (len(DATA) + 10, 5),  # past the end: empty
        (100, 0),
        (0, len(DATA)),
    ],
)
async def test_ranged_read_returns_exactly_the_range(driver: StorageDriver, offset: int, length: int | None) -> None:
    await driver.write(KEY, stream(DATA))

    expected = DATA[offset:] if length is None else DATA[offset : offset + length]
    assert await collect(driver.read(KEY, offset, length)) == expected


async def test_ranged_read_of_an_empty_object_is_empty(driver: StorageDriver) -> None:
    await driver.write(KEY, stream(b""))

    assert await collect(driver.read(KEY, 0, 10)) == b""
    assert await collect(driver.read(KEY, 5)) == b""


@pytest.mark.parametrize(("offset", "length"), [(0, None), (10, 5), (0, 0)])
async def test_read_of_missing_key_raises_blob_not_found_on_first_iteration(
    driver: StorageDriver, offset: int, length: int | None
) -> None:
    chunks = driver.read(KEY, offset, length)  # no I/O yet

    with pytest.raises(BlobNotFound):
        await chunks.__anext__()


async def test_failing_stream_leaves_nothing_behind(driver: StorageDriver, request: pytest.FixtureRequest) -> None:
    # Big enough for object stores to have uploaded multipart parts before the failure.
    data = os.urandom(20 * MiB)

    with pytest.raises(RuntimeError, match="client went away"):
        await driver.write(KEY, failing_after(data, MiB))

    assert await driver.stat(KEY) is None
    assert await listed(driver, "blobs") == set()
    assert await listed(driver, "tmp") == set()
    if driver.name == "s3":
        assert isinstance(driver, ObjectStoreDriver)
        uploads = request.getfixturevalue("s3_client").list_multipart_uploads(
            Bucket="berth-test", Prefix=driver.prefix
        )
        assert uploads.get("Uploads", []) == []


async def test_failing_stream_keeps_the_previous_object(driver: StorageDriver) -> None:
    await driver.write(KEY, stream(DATA))

    with pytest.raises(RuntimeError):
        await driver.write(KEY, failing_after(b"x" * 3 * MiB, MiB))

    assert await collect(driver.read(KEY)) == DATA


async def test_cancelled_write_leaves_nothing_behind(driver: StorageDriver) -> None:
    started = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        for _ in range(12):  # past the object stores' first multipart part
            yield b"x" * MiB
        started.set()
        await asyncio.sleep(3600)
        yield b"never"

    task = asyncio.create_task(driver.write(KEY, stalls()))
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await driver.stat(KEY) is None
    assert await listed(driver, "blobs") == set()
    assert await listed(driver, "tmp") == set()


async def test_overwrite_replaces_the_whole_object(driver: StorageDriver) -> None:
    await driver.write(KEY, stream(DATA))
    await driver.write(KEY, stream(b"short"))

    assert await driver.stat(KEY) == 5
    assert await collect(driver.read(KEY)) == b"short"


async def test_move_makes_src_bytes_appear_under_dst(driver: StorageDriver) -> None:
    src = "uploads/0b7c6c9e-7a1f-4bd4-9a4e-3a1d7c0a1f00/000000000000000000000"
    await driver.write(src, stream(DATA))

    await driver.move(src, KEY)

    assert await collect(driver.read(KEY)) == DATA
    assert await driver.stat(src) is None
    assert await listed(driver, "uploads") == set()


async def test_move_over_an_existing_key_replaces_it(driver: StorageDriver) -> None:
    await driver.write("tmp-area/src", stream(b"new"))
    await driver.write(KEY, stream(b"old"))

    await driver.move("tmp-area/src", KEY)

    assert await collect(driver.read(KEY)) == b"new"


async def test_move_onto_itself_keeps_the_object(driver: StorageDriver) -> None:
    await driver.write(KEY, stream(DATA))

    await driver.move(KEY, KEY)

    assert await collect(driver.read(KEY)) == DATA


async def test_move_of_missing_key_raises_blob_not_found(driver: StorageDriver) -> None:
    with pytest.raises(BlobNotFound):
        await driver.move("uploads/missing/0", KEY)
    assert await driver.stat(KEY) is None


async def test_delete_removes_the_object(driver: StorageDriver) -> None:
    await driver.write(KEY, stream(DATA))

    await driver.delete(KEY)

    assert await driver.stat(KEY) is None
    with pytest.raises(BlobNotFound):
        await collect(driver.read(KEY))


async def test_delete_of_missing_key_is_not_an_error(driver: StorageDriver) -> None:
    await driver.delete(KEY)

    assert await driver.stat(KEY) is None


async def test_delete_prefix_removes_only_keys_under_it(driver: StorageDriver) -> None:
    doomed = ["uploads/u1/0", "uploads/u1/5", "uploads/u1/deep/er"]
    kept = ["uploads/u10/0", "uploads/u2/0", KEY]
    for key in doomed + kept:
        await driver.write(key, stream(key.encode()))

    await driver.delete_prefix("uploads/u1")

    for key in doomed:
        assert await driver.stat(key) is None
    for key in kept:
        assert await collect(driver.read(key)) == key.encode()
    await driver.delete_prefix("uploads/never-there")  # missing prefix: no error


async def test_delete_prefix_keeps_an_object_named_like_the_prefix(driver: StorageDriver) -> None:
    await driver.write("uploads/u1", stream(b"a file, not a folder"))

    await driver.delete_prefix("uploads/u1")

    assert await driver.stat("uploads/u1") == len(b"a file, not a folder")


async def test_list_yields_every_key_under_the_prefix(driver: StorageDriver) -> None:
    inside = {"uploads/u1/0", "uploads/u1/7", "uploads/u1/a/b/c"}
    for key in inside | {"uploads/u10/0", KEY}:
        await driver.write(key, stream(b"x"))

    assert await listed(driver, "uploads/u1") == inside
    assert await listed(driver, "uploads/u1/") == inside
    assert await listed(driver, "blobs") == {KEY}
    assert await listed(driver, "nothing/here") == set()


async def test_list_sees_many_keys(driver: StorageDriver) -> None:
    keys = {f"uploads/many/{i:05d}" for i in range(1005)}  # more than one listing page / batch
    limit = asyncio.Semaphore(8)  # the test servers dislike a thousand parallel connections

    async def write(key: str) -> None:
        async with limit:
            await driver.write(key, stream(b""))

    await asyncio.gather(*(write(key) for key in keys))

    assert await listed(driver, "uploads/many") == keys


async def test_large_streamed_write_and_read_keep_every_byte(driver: StorageDriver) -> None:
    data = os.urandom(64 * MiB + 12345)  # not a multiple of any part or chunk size

    assert await driver.write(KEY, stream(data, 100_003)) == len(data)

    assert await driver.stat(KEY) == len(data)
    digest = hashlib.sha256()
    async for chunk in driver.read(KEY):
        assert len(chunk) <= 16 * MiB
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    tail = await collect(driver.read(KEY, 40 * MiB + 7, 9 * MiB))
    assert tail == data[40 * MiB + 7 : 49 * MiB + 7]


@pytest.mark.parametrize("size", [8 * MiB, 8 * MiB + 1])
async def test_objects_of_one_part_and_just_over_keep_every_byte(driver: StorageDriver, size: int) -> None:
    """8 MiB is the object stores' default part size: exactly one part is a single PUT, one byte more is multipart."""
    data = os.urandom(size)

    assert await driver.write(KEY, stream(data, MiB)) == size

    assert await driver.stat(KEY) == size
    assert await collect(driver.read(KEY)) == data


# The in-memory store keeps the bytes in this process by design, so it is left out.
@pytest.mark.parametrize("driver", ["filesystem", "s3", "azure"], indirect=True)
async def test_streaming_256_mib_keeps_memory_flat(driver: StorageDriver) -> None:
    block = os.urandom(MiB)
    await driver.write("blobs/warm-up", repeated(block, 9))  # connection pools, threads
    await collect(driver.read("blobs/warm-up"))

    with PeakRss() as write_rss:
        assert await driver.write(KEY, repeated(block, 256)) == 256 * MiB
    digest = hashlib.sha256()
    with PeakRss() as read_rss:
        async for chunk in driver.read(KEY):
            digest.update(chunk)

    assert digest.hexdigest() == hashlib.sha256(block * 256).hexdigest()
    assert write_rss.growth < 64 * MiB, f"write grew RSS by {write_rss.growth / MiB:.0f} MiB"
    assert read_rss.growth < 64 * MiB, f"read grew RSS by {read_rss.growth / MiB:.0f} MiB"


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../x", "a//b", "a/./b", "", "a\\..\\b", "a/\x00"])
async def test_invalid_keys_are_rejected(driver: StorageDriver, key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await driver.write(key, stream(b"evil"))
    with pytest.raises(ValueError):
        await driver.stat(key)
    with pytest.raises(ValueError):
        await collect(driver.read(key))
    with pytest.raises(ValueError):
        await driver.delete(key)
    with pytest.raises(ValueError):
        await driver.move(key, KEY)
    assert not (tmp_path / "x").exists()
    assert await listed(driver, "tmp") == set()


async def test_local_file_serves_the_bytes_only_on_filesystem(driver: StorageDriver) -> None:
    await driver.write(KEY, stream(DATA))

    path = driver.local_file(KEY)

    if driver.name == "filesystem":
        assert path is not None and Path(path).is_absolute()
        assert Path(path).read_bytes() == DATA
        assert driver.local_file("blobs/missing") is None
    else:
        assert path is None


async def test_presigned_url_answers_get_with_the_bytes(driver: StorageDriver) -> None:
    await driver.write(KEY, stream(DATA))

    url = await driver.presigned_url(KEY, 300)

    if driver.name in ("s3", "azure"):
        assert url is not None
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200
        assert response.content == DATA
    else:
        assert url is None


@pytest.mark.parametrize("driver", ["s3"], indirect=True)
async def test_move_over_the_server_copy_limit_streams_the_bytes(driver: StorageDriver) -> None:
    assert isinstance(driver, ObjectStoreDriver)
    small_limit = ObjectStoreDriver(driver.store, driver.prefix, server_copy_limit=len(DATA) - 1)
    await driver.write("uploads/u/0", stream(DATA))

    await small_limit.move("uploads/u/0", KEY)

    assert await collect(driver.read(KEY)) == DATA
    assert await driver.stat("uploads/u/0") is None



@pytest.mark.parametrize("driver", ["filesystem", "memory"], indirect=True)
async def test_capacity_is_the_volumes_or_unknown(driver: StorageDriver, tmp_path) -> None:
    capacity = await driver.capacity()
    if driver.name != "filesystem":
        assert capacity is None  # object stores have no size to report
        return
    assert capacity is not None
    free, total = capacity
    stats = os.statvfs(tmp_path)  # the same volume as the store under tmp_path
    assert 0 < free <= total == stats.f_blocks * stats.f_frsize


# -- append: the working file of an upload session, where the driver has one ----------------------------------

APPENDING = ["filesystem"]
PART = "uploads/0b2d3a8e-52a4-4d0c-9d1e-2f7a3c9b8e11/000000000000000000000"


@pytest.mark.parametrize("driver", APPENDING, indirect=True)
async def test_append_creates_then_extends_the_key(driver: StorageDriver) -> None:
    assert driver.can_append
    assert await driver.append(PART, 0, stream(DATA[:3000], 1000)) == 3000
    assert await driver.append(PART, 3000, stream(DATA[3000:], 777)) == len(DATA) - 3000

    assert await driver.stat(PART) == len(DATA)
    assert await collect(driver.read(PART)) == DATA


@pytest.mark.parametrize("driver", APPENDING, indirect=True)
async def test_append_cuts_off_what_was_stored_past_the_offset(driver: StorageDriver) -> None:
    await driver.append(PART, 0, stream(b"x" * 5000))

    assert await driver.append(PART, 1000, stream(DATA[1000:1500]), sync=True) == 500
    assert await collect(driver.read(PART)) == b"x" * 1000 + DATA[1000:1500]
    assert await driver.append(PART, 200, stream(b""), sync=True) == 0
    assert await driver.stat(PART) == 200


@pytest.mark.parametrize("driver", APPENDING, indirect=True)
async def test_append_past_the_stored_end_is_refused(driver: StorageDriver) -> None:
    with pytest.raises(ValueError):
        await driver.append(PART, 10, stream(DATA))
    assert await driver.stat(PART) is None
    await driver.append(PART, 0, stream(DATA[:100]))
    with pytest.raises(ValueError):
        await driver.append(PART, 101, stream(DATA))
    assert await collect(driver.read(PART)) == DATA[:100]


@pytest.mark.parametrize("driver", APPENDING, indirect=True)
async def test_a_failing_append_leaves_the_key_cut_back_to_the_offset(driver: StorageDriver) -> None:
    await driver.append(PART, 0, stream(DATA[:1000]))
    with pytest.raises(RuntimeError):
        await driver.append(PART, 1000, failing_after(b"y" * (3 * MiB), 256 * 1024))
    assert await collect(driver.read(PART)) == DATA[:1000]


@pytest.mark.parametrize("driver", APPENDING, indirect=True)
async def test_a_failing_first_append_leaves_no_key(driver: StorageDriver) -> None:
    with pytest.raises(RuntimeError):
        await driver.append(PART, 0, failing_after(b"y" * (3 * MiB), 256 * 1024))
    assert await driver.stat(PART) is None


@pytest.mark.parametrize("driver", APPENDING, indirect=True)
async def test_an_appended_file_moves_into_place_whole(driver: StorageDriver) -> None:
    big = os.urandom(20 * MiB + 3)  # past the write-back interval
    for start in range(0, len(big), 8 * MiB):
        await driver.append(PART, start, stream(big[start : start + 8 * MiB], 64 * 1024))
    await driver.append(PART, len(big), stream(b""), sync=True)
    await driver.move(PART, KEY)

    assert await driver.stat(PART) is None
    assert hashlib.sha256(await collect(driver.read(KEY))).digest() == hashlib.sha256(big).digest()


async def test_only_the_filesystem_driver_appends(driver: StorageDriver) -> None:
    assert driver.can_append == (driver.name == "filesystem")


async def test_only_the_filesystem_driver_spools(driver: StorageDriver) -> None:
    spool = driver.spool(hashlib.sha256())
    assert (spool is not None) == (driver.name == "filesystem")
    if spool is not None:
        await spool.discard()


@pytest.mark.parametrize("driver", ["filesystem"], indirect=True)
async def test_a_spool_is_readable_as_written_but_its_last_bytes_only_once_sealed(driver: StorageDriver) -> None:
    from berth.storage.filesystem import SPOOL_HOLD

    data = os.urandom(SPOOL_HOLD + 5000)
    spool = driver.spool(hashlib.sha256())
    assert spool is not None
    reader = spool.open_reader()
    try:
        await asyncio.to_thread(spool.write, data[:4000])
        assert spool.wait(0, 0) == 0  # all of it is within the held-back end
        await asyncio.to_thread(spool.write, memoryview(data)[4000:])
        assert spool.wait(0, 0) == 5000
        assert spool.hasher.hexdigest() == hashlib.sha256(data).hexdigest()
        spool.seal()
        assert spool.wait(5000, 0) == len(data) and spool.sealed
        await spool.keep(KEY)
        await spool.discard()
        assert await collect(driver.read(KEY)) == data
        assert os.pread(reader, len(data) + 1, 0) == data  # a reader's descriptor outlives the spool
    finally:
        os.close(reader)


@pytest.mark.parametrize("driver", ["filesystem"], indirect=True)
async def test_a_failed_spool_stops_its_readers_and_leaves_nothing(driver: StorageDriver, tmp_path: Path) -> None:
    spool = driver.spool(None)
    assert spool is not None
    await asyncio.to_thread(spool.write, os.urandom(3 * MiB))
    spool.fail()
    assert spool.wait(0, 0) == -1 and spool.failed
    await spool.discard()
    assert not list((tmp_path / "store" / "tmp").iterdir())

