"""Blob pulls from the storage backends that have no local file (S3, Azure, Swift): streamed
through DTR with Range requests (206, 416), or, with the backend's `redirect` option, a 307
to a short-lived URL of the backend (HEAD stays answered by DTR)."""

import os
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.images import sha256
from tests.support.server import USERS, DTRProcess
from tests.support.storage_backends import REMOTE_BACKENDS, new_storage, set_storage

REPO = "admin/pulls"
SIZE = 3 * 1024 * 1024 + 17  # several 1 MiB Azure blocks and Swift segments


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("pulls") / "instance")
    process.create_users()
    process.cli("create-repo", REPO)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def client(server):
    return RegistryClient(server.url, "admin", USERS["admin"][0])


@pytest.fixture(params=REMOTE_BACKENDS)
def stored_blob(request, server, client, tmp_path):
    """(config, data, digest): a blob pushed to DTR storing on the backend."""
    config = new_storage(request, request.param, tmp_path)
    set_storage(server, config)
    data = os.urandom(SIZE)
    digest = client.push_blob(REPO, data)
    return config, data, digest


def get(client, digest, **headers):
    return client.request("GET", f"/v2/{REPO}/blobs/{digest}", headers=headers)


def test_streamed_with_ranges(client, stored_blob):
    _, data, digest = stored_blob
    whole = get(client, digest)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["Content-Length"] == str(SIZE)
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Docker-Content-Digest"] == digest
    cases = {
        "bytes=10-19": (10, 20),
        "bytes=1048570-2097160": (1048570, 2097161),  # across parts, blocks, segments
        "bytes=-100": (SIZE - 100, SIZE),
        f"bytes={SIZE - 5}-": (SIZE - 5, SIZE),
        f"bytes=3000000-{SIZE + 1000}": (3000000, SIZE),  # an end past the blob is cut
    }
    for header, (start, stop) in cases.items():
        part = get(client, digest, Range=header)
        assert part.status_code == 206, (header, part.text[:200])
        assert part.content == data[start:stop], header
        assert part.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{SIZE}", header
        assert part.headers["Content-Length"] == str(stop - start), header

    outside = get(client, digest, Range=f"bytes={SIZE}-")
    assert outside.status_code == 416
    assert outside.headers["Content-Range"] == f"bytes */{SIZE}"
    several = get(client, digest, Range="bytes=0-1,5-6")  # several ranges: the whole blob
    assert several.status_code == 200 and several.content == data
    stale = get(client, digest, Range="bytes=0-9", **{"If-Range": '"sha256:other"'})
    assert stale.status_code == 200 and stale.content == data
    same = get(client, digest, Range="bytes=0-9", **{"If-Range": f'"{digest}"'})
    assert same.status_code == 206 and same.content == data[:10]


def test_redirect_to_the_backend(server, client, stored_blob):
    config, data, digest = stored_blob
    set_storage(server, {**config, "options": {**config["options"], "redirect": True}})
    response = get(client, digest)
    assert response.status_code == 307, response.text[:300]
    location = response.headers["Location"]
    backend_url = {
        "s3": config["options"].get("endpointUrl"),
        "azure": config["options"].get("endpointUrl"),
        "swift": config["options"].get("authUrl"),
    }[config["backend"]]
    assert urlsplit(location).netloc == urlsplit(backend_url).netloc
    assert response.headers["Docker-Content-Digest"] == digest

    fetched = requests.get(location, timeout=30)  # no credentials: the URL is signed
    assert fetched.status_code == 200, fetched.text[:300]
    assert sha256(fetched.content) == digest
    part = requests.get(location, headers={"Range": "bytes=100-199"}, timeout=30)
    assert part.status_code == 206 and part.content == data[100:200]

    head = client.request("HEAD", f"/v2/{REPO}/blobs/{digest}")
    assert head.status_code == 200, "HEAD is answered by DTR, not redirected"
    assert head.headers["Content-Length"] == str(SIZE)
