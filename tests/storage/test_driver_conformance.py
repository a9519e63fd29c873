"""The conformance suite every storage driver passes; `driver` (tests/storage/conftest.py) is
parametrized over every backend, each against a real server started by a fixture."""

import os
import threading

import pytest

from dtr.storage import PathNotFound, StorageError


def write(driver, path, data, append=False):
    writer = driver.writer(path, append=append)
    writer.write(data)
    writer.commit()
    return writer


def read(driver, path, offset=0):
    with driver.reader(path, offset) as stream:
        return stream.read()


def test_write_commit_read_stat(driver):
    data = os.urandom(10_000)
    assert write(driver, "a/b/c", data).size == len(data)
    assert read(driver, "a/b/c") == data
    assert read(driver, "a/b/c", offset=9000) == data[9000:]
    assert driver.stat("a/b/c") == len(data)
    assert driver.stat("a/b/missing") is None


def test_append_and_truncate(driver):
    write(driver, "up/1", b"hello ")
    writer = driver.writer("up/1", append=True)
    assert writer.size == 6
    writer.write(b"world, and more")
    writer.truncate(6)  # a failed chunk: back to where this writer started
    writer.write(b"world")
    writer.commit()
    assert read(driver, "up/1") == b"hello world"


def test_cancel_leaves_nothing(driver):
    writer = driver.writer("x/cancelled")
    writer.write(b"partial")
    writer.cancel()
    assert driver.stat("x/cancelled") is None


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


def test_paths_cannot_escape(driver):
    for bad in ("../x", "a/../../x", "a//b", ""):
        with pytest.raises(StorageError):
            driver.writer(bad)


def test_concurrent_writers_of_the_same_content(driver):
    data = os.urandom(100_000)

    def put(index):
        write(driver, f"tmp/{index}", data)
        driver.move(f"tmp/{index}", "final/blob")

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read(driver, "final/blob") == data
