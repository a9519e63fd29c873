"""`serve --workers N` (here DTR_WORKERS=3): several server processes on one instance
(SQLite, or PostgreSQL with DTR_TEST_DATABASE=postgresql). Every request opens a new
connection, so consecutive requests land on different processes: pushes (chunked uploads
whose chunks move between processes) succeed, and a tag moved by one process is what the
next request to any process serves.
"""

import hashlib
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.images import simple_image
from tests.support.server import USERS, DTRProcess

ADMIN = ("admin", USERS["admin"][0])
WORKERS = 3


class FreshConnections(RegistryClient):
    """A client that opens a new connection for every request (no keep-alive)."""

    def request(self, method, path, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Connection"] = "close"
        return super().request(method, path, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(
        tmp_path_factory.mktemp("workers") / "instance", env={"DTR_WORKERS": str(WORKERS)}
    )
    process.create_users()
    assert process.cli("create-repo", "admin/busy").returncode == 0
    process.start()
    yield process
    process.stop()


def worker_pids(server) -> set:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = set(re.findall(r"Booting worker with pid: (\d+)", server.log_text()))
        if len(pids) >= WORKERS:
            return pids
        time.sleep(0.2)
    return pids


def test_the_server_runs_the_workers_asked_for(server):
    assert len(worker_pids(server)) == WORKERS, server.log_text()[-2000:]


def test_chunked_uploads_move_between_workers_and_complete(server):
    client = FreshConnections(server.url, *ADMIN)
    data = [os.urandom(1024 * 1024 + n) for n in range(5)]
    digest = "sha256:" + hashlib.sha256(b"".join(data)).hexdigest()
    started = client.request("POST", "/v2/admin/busy/blobs/uploads/")
    assert started.status_code == 202, started.text
    location, offset = started.headers["Location"], 0
    for chunk in data:
        response = client.request(
            "PATCH",
            location,
            data=chunk,
            headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}"},
        )
        assert response.status_code == 202, response.text
        offset += len(chunk)
    finished = client.request("PUT", location, params={"digest": digest})
    assert finished.status_code == 201, finished.text
    assert client.request("GET", f"/v2/admin/busy/blobs/{digest}").content == b"".join(data)


def test_parallel_pushes_and_a_moving_tag_are_consistent_across_workers(server):
    def push(number):
        client = FreshConnections(server.url, *ADMIN)
        return client.push_image("admin/busy", f"parallel-{number}", simple_image(f"p{number}"))

    with ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(push, range(16)))
    assert len(set(digests)) == 16
    writer = FreshConnections(server.url, *ADMIN)
    readers = [FreshConnections(server.url, *ADMIN) for _ in range(WORKERS)]
    for round in range(10):
        pushed = writer.push_image("admin/busy", "moving", simple_image(f"moving-{round}"))
        for reader in readers:  # each request on a new connection: any worker
            served = reader.get_manifest("admin/busy", "moving")
            assert served.headers.get("Docker-Content-Digest") == pushed, f"round {round}"


def test_a_portal_session_made_by_one_worker_is_good_on_all(server):
    session = requests.Session()
    session.headers["Connection"] = "close"  # every step on a new connection: any worker
    page = session.get(f"{server.url}/login").text
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"username": ADMIN[0], "password": ADMIN[1], "csrf_token": csrf}
    assert session.post(f"{server.url}/login", data=form).status_code == 200
    for _ in range(3 * WORKERS):
        shown = session.get(f"{server.url}/repositories/admin/busy", allow_redirects=False)
        assert shown.status_code == 200 and "admin/busy" in shown.text
