"""The conformance suite every storage driver passes; `driver` (tests/storage/conftest.py) is
parametrized over every backend, each against a real server started by a fixture.

Sizes of a few MiB are on purpose: they cross the 5 MiB parts of object-store backends, whose
test fixtures use their smallest part size. A driver must be picklable: the copy is a new
instance with the same settings, as another process would build it (resumed uploads).
"""

import hashlib
import pickle
import random
import threading
import time
import tracemalloc

import pytest

from dtr.storage import PathNotFound, StorageError

MIB = 1024 * 1024


def data(size, seed=0):
    """Deterministic bytes, different for each seed."""
    return random.Random(seed).randbytes(size)


def write(driver, path, content, append=False):
    writer = driver.writer(path, append=append)
    writer.write(content)
    writer.commit()
    return writer


def read(driver, path, offset=0):
    with driver.reader(path, offset) as stream:
        return stream.read()


def test_write_commit_read_stat(driver):
    content = data(10_000)
    assert write(driver, "a/b/c", content).size == len(content)
    assert read(driver, "a/b/c") == content
    assert read(driver, "a/b/c", offset=9000) == content[9000:]
    assert driver.stat("a/b/c") == len(content)
    assert driver.stat("a/b/missing") is None


def test_read_from_offsets_in_pieces(driver):
    content = data(7 * MIB + 123)
    write(driver, "r/blob", content)
    for offset in (0, 1, 5 * MIB, len(content) - 1, len(content)):
        assert read(driver, "r/blob", offset) == content[offset:], offset
    with driver.reader("r/blob", 4096) as stream:  # a range: read what is needed, then close
        assert stream.read(1000) == content[4096:5096]
        assert stream.read(1) == content[5096:5097]
    with driver.reader("r/blob", len(content) - 10) as stream:
        assert stream.read(100) == content[-10:]
        assert stream.read(100) == b""


def test_stat_follows_writes(driver):
    assert driver.stat("s/x") is None
    write(driver, "s/x", data(3 * MIB))
    assert driver.stat("s/x") == 3 * MIB
    write(driver, "s/x", data(4 * MIB, seed=1), append=True)
    assert driver.stat("s/x") == 7 * MIB
    write(driver, "s/x", b"short")  # not appending: replaces
    assert driver.stat("s/x") == 5
    assert read(driver, "s/x") == b"short"


def test_empty_path(driver):
    driver.writer("e/empty").close()
    assert driver.stat("e/empty") == 0
    assert read(driver, "e/empty") == b""
    assert list(driver.list("e")) == ["e/empty"]
    writer = driver.writer("e/empty", append=True)
    assert writer.size == 0
    writer.write(b"abc")
    writer.close()
    assert read(driver, "e/empty") == b"abc"


def test_append_and_truncate(driver):
    write(driver, "up/1", b"hello ")
    writer = driver.writer("up/1", append=True)
    assert writer.size == 6
    writer.write(b"world, and more")
    writer.truncate(6)  # a failed chunk: back to where this writer started
    writer.write(b"world")
    writer.commit()
    assert read(driver, "up/1") == b"hello world"


def test_truncate_after_parts_then_continue(driver):
    old, dropped, new = data(6 * MIB), data(11 * MIB, seed=1), data(6 * MIB, seed=2)
    write(driver, "up/2", old)
    writer = driver.writer("up/2", append=True)
    writer.write(dropped)
    writer.truncate(len(old))
    assert writer.size == len(old)
    writer.write(new)
    assert writer.size == len(old) + len(new)
    writer.commit()
    assert driver.stat("up/2") == len(old) + len(new)
    assert read(driver, "up/2") == old + new


def test_truncate_a_new_path_then_continue(driver):
    writer = driver.writer("up/3")
    writer.write(data(6 * MIB))
    writer.truncate(0)
    assert writer.size == 0
    writer.write(b"again")
    writer.close()
    assert read(driver, "up/3") == b"again"


def test_append_writer_that_writes_nothing_keeps_the_content(driver):
    content = data(6 * MIB)
    write(driver, "up/4", content)
    driver.writer("up/4", append=True).commit()
    assert read(driver, "up/4") == content


def test_resumed_upload_by_a_new_driver_instance(driver):
    first, second = data(12 * MIB), data(3 * MIB + 17, seed=1)
    writer = driver.writer("uploads/resumed")
    for offset in range(0, len(first), MIB):  # chunk by chunk, as a request body arrives
        writer.write(first[offset : offset + MIB])
    writer.close()
    other = pickle.loads(pickle.dumps(driver))
    assert other is not driver
    writer = other.writer("uploads/resumed", append=True)
    assert writer.size == len(first)
    writer.write(second)
    writer.commit()
    assert writer.size == len(first) + len(second)
    assert read(driver, "uploads/resumed") == first + second
    assert read(other, "uploads/resumed", offset=len(first) - 5) == first[-5:] + second


def test_cancel_leaves_nothing(driver):
    writer = driver.writer("x/cancelled")
    writer.write(b"partial")
    writer.cancel()
    assert driver.stat("x/cancelled") is None


def test_cancel_after_many_bytes_leaves_nothing(driver):
    writer = driver.writer("x/big")
    writer.write(data(12 * MIB))
    writer.cancel()
    assert driver.stat("x/big") is None
    assert list(driver.list("x")) == []


def test_list_move_delete(driver):
    for name in ("d/1", "d/2", "d/sub/3"):
        write(driver, name, name.encode())
    assert sorted(driver.list("d")) == ["d/1", "d/2", "d/sub/3"]
    driver.move("d/1", "e/1")
    assert driver.stat("d/1") is None and read(driver, "e/1") == b"d/1"
    driver.delete("d")
    assert list(driver.list("d")) == []
    driver.delete("never/there")  # not an error
    with pytest.raises(PathNotFound):
        driver.reader("d/2")
    with pytest.raises(PathNotFound):
        driver.move("missing", "x")


def test_list(driver):
    for name in ("l/a", "l/b/c", "l/b/d/e", "lx/a", "l-x"):
        write(driver, name, b"x")
    assert sorted(driver.list("l")) == ["l/a", "l/b/c", "l/b/d/e"]
    assert sorted(driver.list("l/b")) == ["l/b/c", "l/b/d/e"]
    assert list(driver.list("l/a")) == ["l/a"]  # a path lists itself
    assert list(driver.list("nothing/here")) == []


def test_delete_folders(driver):
    for name in ("f/a", "f/b/c", "f/b/d/e", "fx/a", "f-x"):
        write(driver, name, b"x")
    driver.delete("f/b")
    assert sorted(driver.list("f")) == ["f/a"]
    driver.delete("f")
    assert list(driver.list("f")) == []
    assert driver.stat("fx/a") == 1 and driver.stat("f-x") == 1  # neighbours stay


def test_move_replaces_the_destination(driver):
    content = data(6 * MIB)
    write(driver, "m/new", content)
    write(driver, "m/blob", b"older content")
    driver.move("m/new", "m/blob")
    assert read(driver, "m/blob") == content
    assert driver.stat("m/new") is None
    driver.writer("m/empty").close()
    driver.move("m/empty", "n/empty")
    assert driver.stat("n/empty") == 0 and driver.stat("m/empty") is None


def test_paths_cannot_escape(driver):
    for bad in ("../x", "a/../../x", "a//b", ""):
        with pytest.raises(StorageError):
            driver.writer(bad)
        with pytest.raises(StorageError):
            driver.stat(bad)
        with pytest.raises(StorageError):
            driver.delete(bad)


def test_concurrent_writers_of_the_same_content(driver):
    content = data(6 * MIB)

    def put(index):
        write(driver, f"tmp/{index}", content)
        driver.move(f"tmp/{index}", "final/blob")

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read(driver, "final/blob") == content
    assert list(driver.list("tmp")) == []


GIB_CHUNKS = 1024  # of 1 MiB: a 1 GiB blob
MEMORY_LIMIT = 64 * MIB


def chunks(count):
    """1 MiB chunks, deterministic and each different, made as they are needed."""
    block = data(MIB)
    for index in range(count):
        yield index.to_bytes(8, "big") + block[8:]


def test_one_gib_streams_in_and_out_with_flat_memory(driver):
    written = hashlib.sha256()
    tracemalloc.start()
    try:
        started = time.monotonic()
        writer = driver.writer("big/blob")
        for chunk in chunks(GIB_CHUNKS):
            writer.write(chunk)
            written.update(chunk)
        writer.commit()
        write_seconds = time.monotonic() - started
        write_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        started = time.monotonic()
        read_back, size = hashlib.sha256(), 0
        with driver.reader("big/blob") as stream:
            while piece := stream.read(MIB):
                read_back.update(piece)
                size += len(piece)
        read_seconds = time.monotonic() - started
        read_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(
        f"1 GiB: write {write_seconds:.1f} s (peak {write_peak / MIB:.1f} MiB), "
        f"read {read_seconds:.1f} s (peak {read_peak / MIB:.1f} MiB)"
    )
    assert size == GIB_CHUNKS * MIB
    assert read_back.hexdigest() == written.hexdigest()
    assert driver.stat("big/blob") == GIB_CHUNKS * MIB
    assert write_peak < MEMORY_LIMIT, f"writing held {write_peak / MIB:.0f} MiB"
    assert read_peak < MEMORY_LIMIT, f"reading held {read_peak / MIB:.0f} MiB"


def test_cancelled_append_keeps_what_was_there(driver):
    write(driver, "kept/1", b"before ")
    writer = driver.writer("kept/1", append=True)
    writer.write(b"and after")
    writer.cancel()
    assert read(driver, "kept/1") == b"before "
