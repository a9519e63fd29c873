"""A full disk: DTR's storage root on a small tmpfs that the test mounts (as root; skipped
when mounting is not permitted). Pushes that do not fit answer 507 UNAVAILABLE "storage
full: N bytes free" (monolithic, and the start, chunks and end of a chunked upload), the
storage log says so, admins see a banner; nothing partial stays, what was stored keeps being
served, and pushes work again once space is freed (which clears the banner)."""

import os
import re
import uuid

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.images import sha256
from tests.support.server import USERS, running_dtr
from tests.support.tmpfs import mounted_tmpfs

REPO = "admin/full"
DISK = 8 * 1024 * 1024
INODES = 400
FULL = re.compile(r"^storage full: (\d+) bytes free$")


@pytest.fixture(scope="module")
def storage_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("disk-full") / "instance" / "storage"
    with mounted_tmpfs(root, f"size={DISK},nr_inodes={INODES}"):
        yield root


@pytest.fixture(scope="module")
def server(storage_root):
    with running_dtr(storage_root.parent, [REPO]) as process:
        yield process


@pytest.fixture
def client(server):
    return RegistryClient(server.url, "admin", USERS["admin"][0])


@pytest.fixture
def disk(storage_root):
    """Fill the tmpfs (outside DTR's folders) leaving some bytes or inodes free; freed after
    each test."""
    fillers = storage_root / "filler"
    fillers.mkdir(exist_ok=True)

    class Disk:
        def free(self):
            stats = os.statvfs(storage_root)
            return stats.f_bavail * stats.f_frsize

        def fill(self, leave):
            """Leave about `leave` bytes free."""
            with open(fillers / uuid.uuid4().hex, "wb") as file:
                file.write(b"\0" * max(self.free() - leave, 0))
            assert self.free() <= leave + 4096

        def use_every_inode(self):
            try:
                while True:
                    (fillers / uuid.uuid4().hex).touch()
            except OSError:
                pass

        def release(self):
            for path in fillers.iterdir():
                path.unlink()

    disk = Disk()
    yield disk
    disk.release()


def assert_full(response, most_free=1024 * 1024):
    assert response.status_code == 507, response.text[:300]
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["errors"][0]
    assert error["code"] == "UNAVAILABLE"
    assert FULL.match(error["message"]), error["message"]
    assert int(FULL.match(error["message"])[1]) <= most_free
    return error


def leftovers(storage_root, digest=None):
    """Upload files of monolithic pushes, and the blob's file if any."""
    uploads = storage_root / "uploads"
    found = (
        [p.name for p in uploads.iterdir() if p.name.startswith("mono-")]
        if uploads.exists()
        else []
    )
    if digest:
        hexdigest = digest.split(":", 1)[1]
        blob = storage_root / "blobs" / "sha256" / hexdigest[:2] / hexdigest
        found += [str(blob)] if blob.exists() else []
    return found


def storage_log(server, text):
    response = requests.get(
        f"{server.url}/api/v0/admin/logs",
        params={"component": "storage", "q": text},
        auth=("admin", USERS["admin"][0]),
        timeout=30,
    )
    assert response.status_code == 200
    return [line["message"] for line in response.json()["lines"]]


def admin_banner(server):
    """The banners on an admin's page of the portal."""
    browser = requests.Session()
    form = browser.get(f"{server.url}/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)[1]
    browser.post(
        f"{server.url}/login",
        data={"username": "admin", "password": USERS["admin"][0], "csrf_token": token},
        timeout=30,
    )
    page = browser.get(f"{server.url}/repositories", timeout=30)
    assert page.status_code == 200
    return re.findall(r'<p class="banner" role="alert">(.*?)</p>', page.text, re.S)


def test_a_monolithic_push_that_does_not_fit(server, storage_root, client, disk):
    stored = os.urandom(200 * 1024)
    stored_digest = client.push_blob(REPO, stored)
    disk.fill(leave=1024 * 1024)
    data = os.urandom(3 * 1024 * 1024)
    digest = sha256(data)

    response = client.request(
        "POST", f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, data=data
    )
    assert_full(response)
    assert leftovers(storage_root, digest) == [], "nothing partial stays"
    assert client.request("HEAD", f"/v2/{REPO}/blobs/{digest}").status_code == 404
    assert any("storage full" in line for line in storage_log(server, "storage full"))
    banners = admin_banner(server)
    assert any("Storage is full" in banner for banner in banners), banners

    kept = client.request("GET", f"/v2/{REPO}/blobs/{stored_digest}")
    assert kept.status_code == 200 and kept.content == stored, "stored blobs are still served"

    disk.release()
    assert client.push_blob(REPO, data) == digest
    assert client.request("GET", f"/v2/{REPO}/blobs/{digest}").content == data
    assert not any("Storage is full" in b for b in admin_banner(server)), "cleared by a push"


def upload_range(client, location):
    status = client.request("GET", location)
    assert status.status_code == 204
    return status.headers["Range"]


def test_a_chunked_upload_that_does_not_fit_resumes_once_space_is_freed(
    server, storage_root, client, disk
):
    data = os.urandom(3 * 1024 * 1024)
    digest = sha256(data)
    first, rest = data[: 512 * 1024], data[512 * 1024 :]
    disk.fill(leave=1024 * 1024)

    started = client.request("POST", f"/v2/{REPO}/blobs/uploads/")
    assert started.status_code == 202, "an empty upload file still fits"
    location = started.headers["Location"]
    assert_full(client.request("PATCH", location, data=data))
    assert upload_range(client, location) == "0-0", "the upload stays as it was"

    chunk = client.request("PATCH", location, data=first, headers={"Content-Range": "0-524287"})
    assert chunk.status_code == 202
    assert_full(
        client.request(
            "PATCH", location, data=rest, headers={"Content-Range": f"524288-{len(data) - 1}"}
        )
    )
    assert upload_range(client, location) == "0-524287", "the chunk that failed was dropped"

    assert_full(client.request("PUT", location, params={"digest": digest}, data=rest))
    assert upload_range(client, location) == "0-524287"
    assert client.request("HEAD", f"/v2/{REPO}/blobs/{digest}").status_code == 404

    disk.release()
    finished = client.request("PUT", location, params={"digest": digest}, data=rest)
    assert finished.status_code == 201, finished.text
    assert client.request("GET", f"/v2/{REPO}/blobs/{digest}").content == data
    assert not (storage_root / "uploads" / location.rsplit("/", 1)[1]).exists()


def test_starting_an_upload_without_a_free_inode(server, storage_root, client, disk):
    disk.use_every_inode()
    assert_full(client.request("POST", f"/v2/{REPO}/blobs/uploads/"), most_free=DISK)
    small = os.urandom(1000)
    monolithic = client.request(
        "POST", f"/v2/{REPO}/blobs/uploads/", params={"digest": sha256(small)}, data=small
    )
    assert_full(monolithic, most_free=DISK)
    disk.release()
    started = client.request("POST", f"/v2/{REPO}/blobs/uploads/")
    assert started.status_code == 202
    assert client.request("DELETE", started.headers["Location"]).status_code == 204
    assert client.push_blob(REPO, small) == sha256(small)
