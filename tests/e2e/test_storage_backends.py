"""The registry end to end on each storage backend (filesystem, S3 on moto, Azure Blob on
Azurite, OpenStack Swift all-in-one): one DTR whose storage is switched live through the API
to each backend in turn, then skopeo and docker push and pull, a cross-repository mount, a
chunked upload resumed after a restart, a tag delete, the blobs checked on the backend itself,
and a failing backend answering a clear registry error while leaving no partial blob."""

import base64
import itertools
import json
import os
import re
import time

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.images import Image, sha256, simple_image
from tests.support.server import USERS, DTRProcess, free_port
from tests.support.storage_backends import (
    BACKENDS,
    driver_of,
    new_storage,
    set_storage,
    stored_blob_digests,
)

from .test_docker import check_stored, pushed_digest
from .test_skopeo import creds, push_layout

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
_repos = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("backends") / "instance")
    process.create_users()
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def storage(request, server, tmp_path_factory):
    """The storage of `server` switched (live) to a fresh place on the backend."""
    config = new_storage(request, request.param, tmp_path_factory.mktemp(request.param))
    set_storage(server, config)
    return config


@pytest.fixture
def new_repo(server):
    def make(public=False):
        name = f"admin/{next(_repos)}-backend"
        result = server.cli("create-repo", name, *(["--public"] if public else []))
        assert result.returncode == 0, result.stderr
        return name

    return make


@pytest.fixture
def admin(server):
    return RegistryClient(server.url, "admin", USERS["admin"][0])


def test_skopeo_copy_in_and_out(storage, server, skopeo, new_repo, admin, tmp_path):
    repo = new_repo()
    image = simple_image(f"skopeo-{storage['backend']}", layers=4)
    layout = image.write_oci_layout(tmp_path / "layout", "v1")
    push_layout(skopeo, layout, "v1", f"docker://{server.host}/{repo}:v1")
    out = tmp_path / "out"
    skopeo(
        "copy",
        "--src-creds",
        creds("reader"),
        "--src-tls-verify=false",
        f"docker://{server.host}/{repo}:v1",
        f"oci:{out}:copied",
    )
    original = {p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}
    copied = {p.name: p.read_bytes() for p in (out / "blobs" / "sha256").iterdir()}
    assert copied == original
    assert {sha256(blob) for blob in image.blobs} <= stored_blob_digests(storage)


def test_docker_push_mount_and_pull(storage, server, docker, new_repo, admin, tmp_path):
    first, second = new_repo(), new_repo()
    marker = storage["backend"]
    files = [{f"{marker}/l{i}.bin": os.urandom(300_000 + i)} for i in range(3)]
    image = Image(files, docker=True)
    docker.load(image, f"{server.host}/{first}:v1", tmp_path)
    docker("tag", f"{server.host}/{first}:v1", f"{server.host}/{second}:v1")
    docker.login(server, "writer")

    push = docker("push", f"{server.host}/{first}:v1").stdout
    assert push.count(": Pushed") == 3, push
    digest = pushed_digest(push, "v1")
    manifest = check_stored(admin, first, "v1", digest, image)
    mounted = docker("push", f"{server.host}/{second}:v1").stdout
    reused = re.findall(r"^[0-9a-f]{12}: (Mounted from \S+|Layer already exists)$", mounted, re.M)
    assert len(reused) == 3 and ": Pushed" not in mounted, mounted
    check_stored(admin, second, "v1", digest, image)
    third = new_repo()  # the mount itself, as the spec has it
    layer = manifest["layers"][0]["digest"]
    mount = requests.post(  # Basic: a token would need scopes on both repositories
        f"{server.url}/v2/{third}/blobs/uploads/",
        params={"mount": layer, "from": first},
        auth=("admin", USERS["admin"][0]),
        timeout=30,
    )
    assert mount.status_code == 201, mount.text
    assert admin.request("HEAD", f"/v2/{third}/blobs/{layer}").status_code == 200
    on_backend = stored_blob_digests(storage)
    assert {layer["digest"] for layer in manifest["layers"]} <= on_backend
    assert manifest["config"]["digest"] in on_backend

    docker("rmi", f"{server.host}/{first}:v1", f"{server.host}/{second}:v1")
    pull = docker("pull", f"{server.host}/{second}:v1")
    assert f"Digest: {digest}" in pull.stdout
    assert docker.image_id(f"{server.host}/{second}:v1") == sha256(image.config)


def test_chunked_upload_resumed_after_a_restart(storage, server, new_repo, admin):
    repo = new_repo()
    data = os.urandom(9 * MIB + 123)
    cuts = [0, 6 * MIB, 7 * MIB, len(data)]  # an S3 part, a small chunk, the rest
    location = admin.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    for start, end in zip(cuts[:2], cuts[1:3], strict=True):
        response = admin.request(
            "PATCH",
            location,
            data=data[start:end],
            headers={
                "Content-Range": f"{start}-{end - 1}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert response.status_code == 202, response.text
        location = response.headers["Location"]

    server.stop()
    server.start()
    status = admin.request("GET", location)
    assert status.status_code == 204, status.text
    assert status.headers["Range"] == f"0-{cuts[2] - 1}"
    upload_id = status.headers["Docker-Upload-UUID"]
    last = admin.request(
        "PATCH",
        location,
        data=data[cuts[2] :],
        headers={"Content-Range": f"{cuts[2]}-{len(data) - 1}"},
    )
    assert last.status_code == 202, last.text
    done = admin.request("PUT", last.headers["Location"], params={"digest": sha256(data)})
    assert done.status_code == 201, done.text

    got = admin.request("GET", f"/v2/{repo}/blobs/{sha256(data)}")
    assert got.status_code == 200 and sha256(got.content) == sha256(data)
    assert sha256(data) in stored_blob_digests(storage)
    assert driver_of(storage).stat(f"uploads/{upload_id}") is None  # moved, nothing left


def test_tag_delete(storage, server, new_repo, admin):
    repo = new_repo()
    image = simple_image(f"delete-{storage['backend']}")
    admin.push_image(repo, "v1", image)
    admin.push_image(repo, "v2", image)
    response = admin.session.delete(
        f"{server.url}/api/v0/repositories/{repo}/tags/v1", auth=("admin", USERS["admin"][0])
    )
    assert response.status_code == 204, response.text
    assert admin.request("GET", f"/v2/{repo}/tags/list").json()["tags"] == ["v2"]
    assert admin.get_manifest(repo, "v1").status_code == 404
    kept = admin.get_manifest(repo, "v2")
    assert kept.status_code == 200 and kept.content == image.manifest
    for blob in image.blobs:  # the blobs stay until garbage collection
        assert admin.request("GET", f"/v2/{repo}/blobs/{sha256(blob)}").content == blob


def _store_directly(server, config):
    """Save a storage setting bypassing the API's check, as a hand edit of the database."""
    server.sql("UPDATE settings SET value = ? WHERE key = 'storage'", (json.dumps(config),))


def _push_until_refused(admin, repo, data, timeout=15):
    """The server notices the edited setting within seconds: push new blobs until one is
    refused; (the response, the refused blob)."""
    deadline = time.monotonic() + timeout
    while True:
        response = admin.request(
            "POST", f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, data=data
        )
        if response.status_code != 201:
            return response, data
        assert time.monotonic() < deadline, "the broken setting was never used"
        data = os.urandom(len(data))
        time.sleep(0.5)


def _broken(storage):
    """[(a setting that fails: wrong credentials, an unreachable endpoint..., words of the
    error)]; "moto-auth" stands for the working setting while moto refuses every key."""
    backend, options = storage["backend"], storage["options"]
    if backend == "s3":
        unreachable = {**options, "endpointUrl": f"http://127.0.0.1:{free_port()}"}
        return [
            ({**storage, "options": unreachable}, "cannot reach"),
            ("moto-auth", "rejected the credentials"),
        ]
    if backend == "azure":
        wrong = {**options, "accountKey": base64.b64encode(b"wrong key" * 7).decode()}
        return [({**storage, "options": wrong}, "rejected the credentials")]
    if backend == "swift":
        wrong = {**options, "password": "wrong"}
        return [({**storage, "options": wrong}, "Swift rejected the credentials")]
    unusable = {"rootDirectory": "/proc/dtr-storage"}
    return [({**storage, "options": unusable}, "cannot create or use the folder")]


def test_a_failing_backend_gives_a_clear_error_and_no_partial_blob(
    storage, server, new_repo, admin, request
):
    repo = new_repo()
    uploads_before = set(driver_of(storage).list("uploads"))
    moto = request.getfixturevalue("moto_server") if storage["backend"] == "s3" else None
    for broken, words in _broken(storage):
        data = os.urandom(700_000)
        if broken == "moto-auth":
            moto.require_auth(True)  # every key is unknown to moto now
            broken = storage
        try:
            _store_directly(server, broken)
            refused, data = _push_until_refused(admin, repo, data)
        finally:
            if moto is not None:
                moto.require_auth(False)
        assert refused.status_code == 503, refused.text
        error = refused.json()["errors"][0]
        assert error["code"] == "UNAVAILABLE"
        assert error["message"].startswith("storage backend failed: "), error["message"]
        assert words in error["message"], error["message"]
        digest = sha256(data)
        set_storage(server, storage)
        assert admin.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 404
        assert digest not in stored_blob_digests(storage)
        assert set(driver_of(storage).list("uploads")) == uploads_before
    working = admin.push_blob(repo, os.urandom(1000))
    assert working in stored_blob_digests(storage)
