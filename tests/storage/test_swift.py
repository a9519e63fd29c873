"""What only the Swift driver has: credentials and containers, TempURLs, how segments and
manifests are laid out in the container (looked at with a plain swiftclient connection), and
growth within Swift's SLO limits. The generic behaviour is in test_driver_conformance.py."""

import json
import os
import subprocess
import sys
import time

import pytest
import requests
import swiftclient

from dtr.storage import PathNotFound, StorageError
from dtr.storage.swift import FANOUT, MAX_LEVEL, SwiftDriver, foldable_run, from_settings
from tests.support.server import free_port
from tests.support.swift_aio import ADMIN, READER, swift_options

MIB = 1024 * 1024
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def raw(swift_server):
    """A plain swiftclient connection as the account's admin, to look behind the driver."""
    connection = swiftclient.Connection(swift_server.auth_url, *ADMIN, retries=0)
    yield connection
    connection.close()


@pytest.fixture
def driver_1mib(swift_server):
    """A driver on a fresh container with 1 MiB segments: the segment counts below use it."""
    driver = from_settings(swift_options(swift_server, swift_server.new_container_name()))
    yield driver
    driver.close()


def names(raw, container, prefix=""):
    return [
        item["name"] for item in raw.get_container(container, prefix=prefix, full_listing=True)[1]
    ]


def manifest(raw, container, name):
    headers, body = raw.get_object(container, name, query_string="multipart-manifest=get")
    assert headers.get("x-static-large-object") == "True"
    return json.loads(body)


def write(driver, path, content, append=False):
    writer = driver.writer(path, append=append)
    writer.write(content)
    writer.commit()


def read(driver, path, offset=0):
    with driver.reader(path, offset) as stream:
        return stream.read()


# settings and connection errors


def test_options_are_checked_with_clear_errors(swift_server):
    good = swift_options(swift_server, "c")
    for change, message in [
        ({"container": None}, "container"),
        ({"authUrl": "ftp://x"}, "http"),
        ({"segmentSizeMiB": 0}, "between 1 and 5120"),
        ({"segmentSizeMiB": "8"}, "must be a int"),
        ({"authUrl": "https://keystone:5000/v3"}, "projectName"),
        ({"rootDirectory": "a/../b"}, "rootDirectory"),
        ({"colour": "blue"}, "unknown storage option"),
    ]:
        with pytest.raises(ValueError, match=message):
            from_settings({**good, **change})


def test_bad_password_is_a_clear_storage_error(swift_server):
    driver = from_settings(swift_options(swift_server, "c", password="wrong"))
    with pytest.raises(StorageError, match="rejected the credentials"):
        driver.stat("a/b")
    with pytest.raises(StorageError, match="rejected the credentials"):
        driver.writer("a/b").close()


def test_unreachable_swift_is_a_clear_storage_error():
    url = f"http://127.0.0.1:{free_port()}/auth/v1.0"
    driver = SwiftDriver(url, *ADMIN, "c", retries=1, starting_backoff=0.01)
    started = time.monotonic()
    with pytest.raises(StorageError, match="cannot reach Swift"):
        driver.stat("a/b")
    assert time.monotonic() - started < 5


def test_missing_container_is_created(swift_server, raw):
    container = swift_server.new_container_name()
    driver = from_settings(swift_options(swift_server, container))
    assert driver.stat("x") is None
    raw.head_container(container)  # exists now


def test_missing_container_the_user_may_not_create(swift_server, raw):
    container = swift_server.new_container_name()
    driver = from_settings(swift_options(swift_server, container, username=READER[0],
                                         password=READER[1]))  # fmt: skip
    with pytest.raises(StorageError, match=f"container '{container}'.*403 Forbidden"):
        driver.stat("x")
    with pytest.raises(swiftclient.ClientException):
        raw.head_container(container)


# TempURL redirects


def test_download_url_is_a_temp_url_a_plain_client_can_fetch(swift_server):
    options = swift_options(swift_server, swift_server.new_container_name(), redirect=True)
    driver = from_settings(options)
    content = os.urandom(3 * MIB + 5)  # several segments
    write(driver, "blobs/sha256/ab/abc", content)
    url = driver.download_url("blobs/sha256/ab/abc", 60)
    assert url.startswith(swift_server.proxy_url) and "temp_url_sig=" in url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == content
    ranged = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == content[10:20]
    tampered = url.replace("blobs/sha256/ab/abc", "blobs/sha256/ab/abd")
    assert requests.get(tampered, timeout=10).status_code == 401
    assert from_settings({**options, "redirect": False}).download_url("blobs/x", 60) is None


def test_configured_temp_url_key_is_the_one_used(swift_server, raw):
    container = swift_server.new_container_name()
    driver = from_settings(
        swift_options(swift_server, container, redirect=True, tempUrlKey="configured-key")
    )
    write(driver, "a/b", b"signed")
    url = driver.download_url("a/b", 60)
    assert requests.get(url, timeout=10).content == b"signed"
    assert raw.head_container(container)["x-container-meta-temp-url-key"] == "configured-key"


def test_expired_temp_url_is_refused(swift_server):
    driver = from_settings(
        swift_options(swift_server, swift_server.new_container_name(), redirect=True)
    )
    write(driver, "a/b", b"soon gone")
    url = driver.download_url("a/b", 1)
    time.sleep(2.1)
    assert requests.get(url, timeout=10).status_code == 401


# layout: manifests and segments


def test_objects_live_under_the_root_directory(swift_server, raw):
    container = swift_server.new_container_name()
    driver = from_settings(swift_options(swift_server, container, rootDirectory="/dtr/one/"))
    write(driver, "blobs/x", os.urandom(2 * MIB + 1))
    all_names = names(raw, container)
    assert "dtr/one/files/blobs/x" in all_names
    segments = [name for name in all_names if name.startswith("dtr/one/segments/")]
    assert len(segments) == 3 and len(all_names) == 4
    assert list(driver.list("blobs")) == ["blobs/x"]  # segments are not paths


def test_move_does_not_copy_segment_data(driver_1mib, raw):
    container = driver_1mib.container
    write(driver_1mib, "uploads/u1", os.urandom(5 * MIB + 3))
    segments_before = {
        item["name"]: (item["hash"], item["last_modified"])
        for item in raw.get_container(container, prefix="segments/", full_listing=True)[1]
    }
    source_manifest = manifest(raw, container, "files/uploads/u1")
    time.sleep(0.05)  # a copy would have a later last_modified
    driver_1mib.move("uploads/u1", "blobs/sha256/ab/abcd")
    segments_after = {
        item["name"]: (item["hash"], item["last_modified"])
        for item in raw.get_container(container, prefix="segments/", full_listing=True)[1]
    }
    assert segments_after == segments_before  # the same objects, none added
    moved = manifest(raw, container, "files/blobs/sha256/ab/abcd")
    assert [item["name"] for item in moved] == [item["name"] for item in source_manifest]
    assert driver_1mib.stat("uploads/u1") is None
    assert names(raw, container, "files/") == ["files/blobs/sha256/ab/abcd"]


def test_deleting_and_replacing_remove_the_segments(driver_1mib, raw):
    container = driver_1mib.container
    write(driver_1mib, "a/one", os.urandom(3 * MIB))
    write(driver_1mib, "a/one", os.urandom(2 * MIB), append=True)
    write(driver_1mib, "a/two", os.urandom(3 * MIB))
    write(driver_1mib, "a/two", b"small")  # replaced: its three segments go
    assert len(names(raw, container, "segments/")) == 5 + 1
    driver_1mib.delete("a/one")
    assert len(names(raw, container, "segments/")) == 1
    driver_1mib.delete("a")
    assert names(raw, container) == []


def test_truncate_and_cancel_delete_the_writers_segments(driver_1mib, raw):
    container = driver_1mib.container
    write(driver_1mib, "u/1", os.urandom(2 * MIB))
    before = names(raw, container, "segments/")
    writer = driver_1mib.writer("u/1", append=True)
    writer.write(os.urandom(3 * MIB))
    writer.truncate(2 * MIB)
    assert names(raw, container, "segments/") == before
    writer.write(b"more")
    writer.cancel()
    assert names(raw, container, "segments/") == before
    assert driver_1mib.stat("u/1") == 2 * MIB  # an append writer's cancel keeps the content


def test_small_appends_do_not_leave_a_segment_each(driver_1mib, raw):
    container = driver_1mib.container
    content = b""
    for index in range(20):  # a chunked upload of small chunks, one writer per request
        chunk = os.urandom(10_000 + index)
        write(driver_1mib, "uploads/chunked", chunk, append=True)
        content += chunk
    assert read(driver_1mib, "uploads/chunked") == content
    assert len(manifest(raw, container, "files/uploads/chunked")) == 1
    assert len(names(raw, container, "segments/")) == 1  # merged tails were deleted


def test_resumed_append_from_another_process(swift_server, driver_1mib):
    first = os.urandom(2 * MIB + 100)
    write(driver_1mib, "uploads/r", first)
    options = swift_options(swift_server, driver_1mib.container)
    script = (
        "import json, sys\n"
        "from dtr.storage.swift import from_settings\n"
        "driver = from_settings(json.loads(sys.argv[1]))\n"
        "writer = driver.writer('uploads/r', append=True)\n"
        "print(writer.size)\n"
        "writer.write(b'from another process' * 100000)\n"
        "writer.commit()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(options)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(first)
    assert read(driver_1mib, "uploads/r") == first + b"from another process" * 100000


def test_a_plain_object_another_tool_wrote_can_be_appended_and_moved(driver_1mib, raw):
    content = os.urandom(3 * MIB)
    assert driver_1mib.stat("imported/blob") is None  # the driver creates the container
    raw.put_object(driver_1mib.container, "files/imported/blob", content)
    write(driver_1mib, "imported/blob", b"+more", append=True)
    assert read(driver_1mib, "imported/blob") == content + b"+more"
    driver_1mib.move("imported/blob", "imported/moved")
    assert read(driver_1mib, "imported/moved", 3 * MIB) == b"+more"


def test_objects_another_tool_listed_in_a_manifest_are_never_deleted(driver_1mib, raw):
    container, other = driver_1mib.container, driver_1mib.container + "-other"
    assert driver_1mib.stat("foreign") is None  # the driver creates its container
    raw.put_container(other)
    raw.put_object(container, "theirs/part1", b"a" * 1000)
    raw.put_object(other, "part2", b"b" * 1000)
    parts = [{"path": f"/{container}/theirs/part1"}, {"path": f"/{other}/part2"}]
    raw.put_object(container, "files/foreign", json.dumps(parts),
                   query_string="multipart-manifest=put")  # fmt: skip
    write(driver_1mib, "foreign", b"c" * 10, append=True)  # their small tail is not merged
    assert read(driver_1mib, "foreign") == b"a" * 1000 + b"b" * 1000 + b"c" * 10
    driver_1mib.move("foreign", "moved")
    driver_1mib.delete("moved")
    assert driver_1mib.stat("moved") is None
    assert names(raw, container) == ["theirs/part1"] and names(raw, other) == ["part2"]


# growth within Swift's SLO limits


def simulate(segments, fanout=FANOUT):
    """The levels of the top-level manifest after `segments` segments, and the largest size
    the manifest had."""
    levels, largest = [], 0
    for _ in range(segments):
        levels.append(0)
        largest = max(largest, len(levels))
        while (level := foldable_run(levels, fanout)) is not None:
            levels[-fanout:] = [level + 1]
    return levels, largest


@pytest.mark.parametrize(
    "piece_mib",
    [1, 5, 16],  # 1 MiB segments; a chunked upload of 5 MiB requests; 16 MiB segments (default)
)
def test_100_gib_stays_within_the_slo_limits(piece_mib):
    segments = 100 * 1024 // piece_mib
    levels, largest = simulate(segments)
    assert largest < 100  # Swift's default max_manifest_segments is 1000
    assert max(levels) < MAX_LEVEL <= 8  # sub-manifests: Swift nests 10 deep at most
    assert sum(FANOUT**level for level in levels) == segments  # nothing lost


def nesting_depth(raw, container, items):
    subs = [item["name"].split("/", 2)[2] for item in items if item.get("sub_slo")]
    return 1 + max(
        (nesting_depth(raw, container, manifest(raw, container, n)) for n in subs), default=0
    )


def test_nested_manifests_many_levels_deep(swift_server, raw):
    """A fan-out of 2 makes 20 segments nest as deep as 100 GiB with the real fan-out.
    (Segments of 1 MiB: Swift slows down reading SLOs made of smaller segments.)"""
    container = swift_server.new_container_name()

    def new_driver():
        return SwiftDriver(swift_server.auth_url, *ADMIN, container, segment_size=MIB, fanout=2)

    driver, content = new_driver(), b""
    for index in range(5):  # appends, some from a new driver instance
        piece = os.urandom(4 * MIB + index)
        write(driver if index % 2 else new_driver(), "deep/blob", piece, append=True)
        content += piece
    top = manifest(raw, container, "files/deep/blob")
    assert len(top) <= 2 * MAX_LEVEL
    assert nesting_depth(raw, container, top) >= 5
    assert read(driver, "deep/blob") == content
    assert read(driver, "deep/blob", 12_345_678) == content[12_345_678:]
    driver.move("deep/blob", "deep/moved")
    assert read(driver, "deep/moved") == content
    driver.delete("deep")
    assert names(raw, container) == []
    with pytest.raises(PathNotFound):
        driver.reader("deep/moved")


def test_unreachable_keystone_is_a_clear_storage_error():
    """Keystone (v2/v3) authentication goes through keystoneauth; its errors are StorageErrors
    too. (No Keystone runs in these tests: v1 tempauth is what the all-in-one has.)"""
    for version in ("v3", "v2.0"):
        options = {
            "authUrl": f"http://127.0.0.1:{free_port()}/{version}",
            "username": "dtr",
            "password": "secret",
            "projectName": "registry",
            "container": "c",
        }
        with pytest.raises(StorageError, match="Keystone: Unable to establish connection"):
            from_settings(options).stat("a/b")
