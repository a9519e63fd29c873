"""A chunked upload whose requests land on two DTR processes sharing a database and a storage
(replicas behind a round-robin load balancer), a folder or an S3 bucket: it completes, no
chunk makes a process read back what was received before (the hash state travels in the
upload's row; on S3 one multipart upload is parked between requests, storage/s3.py), and two
requests writing one upload at once never mix their bytes (services/upload_locks.py).
"""

import hashlib
import os
import threading
import time

import pytest

from tests.support.client import RegistryClient
from tests.support.server import USERS, DTRProcess
from tests.support.storage_backends import new_storage, set_storage

ADMIN = ("admin", USERS["admin"][0])
REPO = "admin/chunks"
REHASH_LINE = "hashing its"  # services/uploads.py logs it when a state could not be used


@pytest.fixture(scope="module", params=["filesystem", "s3"])
def storage(request):
    return request.param


@pytest.fixture(scope="module")
def pair(request, shared_database, storage):
    folder, url = shared_database
    folder = folder / storage
    if storage == "s3":  # a database of its own, of the same kind
        postgres = not url.startswith("sqlite")
        folder.mkdir()
        url = (
            request.getfixturevalue("private_postgres").new_database()
            if postgres
            else f"sqlite:///{folder / 'shared.db'}"
        )
    env = {"DTR_STORAGE_ROOT": str(folder / "storage")}
    one = DTRProcess(folder / "one", database_url=url, env=env)
    other = DTRProcess(folder / "other", database_url=url, env=env)
    one.create_users()
    assert one.cli("create-repo", REPO).returncode == 0
    one.start()
    other.start()
    one.s3 = None  # (an S3 client, the bucket) when the pair stores on S3
    if storage == "s3":  # the setting is in the shared database: both use the bucket
        config = new_storage(request, "s3", folder)
        set_storage(one, config)
        one.s3 = request.getfixturevalue("moto_server").client(), config["options"]["bucket"]
    yield one, other
    one.stop()
    other.stop()


def open_multipart_uploads(server) -> int:
    client, bucket = server.s3
    return len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def clients(pair):
    return [RegistryClient(server.url, *ADMIN) for server in pair]


def storage_log(server) -> str:
    path = server.instance / "logs" / "storage.log"
    return path.read_text(errors="replace") if path.exists() else ""


def start_upload(client) -> str:
    response = client.request("POST", f"/v2/{REPO}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def patch(client, location, chunk, start):
    """A PATCH of `chunk` (bytes, or a SlowBody sent chunked) at `start`."""
    length = chunk.length if isinstance(chunk, SlowBody) else len(chunk)
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{start}-{start + length - 1}",
    }
    return client.request("PATCH", location, data=chunk, headers=headers)


def test_chunks_alternating_between_processes_complete_without_reading_back(pair):
    one, other = pair
    alternate = clients(pair)
    chunks = [os.urandom(3 * 1024 * 1024 + n) for n in range(6)]
    data = b"".join(chunks)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = start_upload(alternate[0])
    before = [len(storage_log(server)) for server in pair]
    offset = 0
    for number, chunk in enumerate(chunks):
        response = patch(alternate[(number + 1) % 2], location, chunk, offset)
        assert response.status_code == 202, response.text
        offset += len(chunk)
        assert response.headers["Range"] == f"0-{offset - 1}"
        if one.s3 and offset >= 5 * 1024 * 1024:  # a part went: one upload, kept
            assert open_multipart_uploads(one) == 1
    finished = alternate[1].request("PUT", location, params={"digest": digest})
    assert finished.status_code == 201, finished.text
    for client in alternate:
        pulled = client.request("GET", f"/v2/{REPO}/blobs/{digest}")
        assert pulled.status_code == 200 and pulled.content == data
    for server, start in zip(pair, before, strict=True):
        assert REHASH_LINE not in storage_log(server)[start:], "a chunk read the upload back"
    if one.s3:
        assert open_multipart_uploads(one) == 0


def test_an_upload_without_a_usable_state_is_hashed_again_and_completes(pair):
    one, other = pair
    alternate = clients(pair)
    first, second = os.urandom(2 * 1024 * 1024), os.urandom(1024 * 1024)
    location = start_upload(alternate[0])
    assert patch(alternate[0], location, first, 0).status_code == 202
    upload_id = location.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    one.sql("UPDATE uploads SET hash_state = NULL WHERE id = ?", (upload_id,))
    assert patch(alternate[1], location, second, len(first)).status_code == 202
    digest = "sha256:" + hashlib.sha256(first + second).hexdigest()
    finished = alternate[0].request("PUT", location, params={"digest": digest})
    assert finished.status_code == 201, finished.text
    assert REHASH_LINE in storage_log(other)


class SlowBody:
    """A request body sent in pieces with pauses, so that two requests overlap."""

    def __init__(self, data, pieces=8, pause=0.15):
        self.data, self.pieces, self.pause = data, pieces, pause
        self.length = len(data)

    def __iter__(self):
        step = -(-self.length // self.pieces)
        for start in range(0, self.length, step):
            yield self.data[start : start + step]
            time.sleep(self.pause)


def test_two_chunks_written_at_once_on_two_processes_never_mix(pair):
    alternate = clients(pair)
    location = start_upload(alternate[0])
    for client in alternate:  # each has its token before the race
        assert client.request("GET", location).status_code == 204
    bodies = [os.urandom(2 * 1024 * 1024), os.urandom(2 * 1024 * 1024)]
    results = [None, None]

    def send(number):
        body = SlowBody(bodies[number])
        results[number] = patch(alternate[number], location, body, 0)

    threads = [threading.Thread(target=send, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [202, 416], [(r.status_code, r.text) for r in results]
    winner = bodies[[r.status_code for r in results].index(202)]
    digest = "sha256:" + hashlib.sha256(winner).hexdigest()
    finished = alternate[1].request("PUT", location, params={"digest": digest})
    assert finished.status_code == 201, finished.text
    pulled = alternate[0].request("GET", f"/v2/{REPO}/blobs/{digest}")
    assert pulled.content == winner
