"""Damaged blobs on storage: a blob whose stored size is not the recorded one is never
served (neither more nor fewer bytes); storage verification (`python app.py storage verify`,
the API) rehashes every blob, quarantines the corrupt and missing ones with the repositories
and tags that need them, so that pulls answer BLOB_UNKNOWN, and a push of the right content
heals them. One verification at a time, across processes; garbage collection collects
quarantined garbage and keeps quarantined blobs that images need."""

import os
import time

import pytest
import requests
from sqlalchemy import select

import dtr
from dtr.database import db
from dtr.errors import JobRunning
from dtr.models import Blob
from dtr.services import storage_verification
from dtr.services.blobs import quarantine_blob
from tests.support.client import RegistryClient
from tests.support.images import sha256, simple_image
from tests.support.server import USERS, running_dtr

REPO = "admin/scrub"
OTHER = "admin/scrub-other"
SIZE = 262_144
LOOKUP_CACHE_SECONDS = 2.1  # another process's quarantine shows after this (config default)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_dtr(tmp_path_factory.mktemp("verify") / "instance", [REPO, OTHER]) as process:
        yield process


@pytest.fixture
def client(server):
    return RegistryClient(server.url, "admin", USERS["admin"][0])


@pytest.fixture(scope="module")
def app(server):
    """The server's instance, seen from this process (another process sharing its database)."""
    return dtr.create_app(str(server.instance), {"DATABASE_URL": server.database_url})


def blob_file(server, digest):
    hexdigest = digest.split(":", 1)[1]
    return server.instance / "storage" / "blobs" / "sha256" / hexdigest[:2] / hexdigest


def flip_a_byte(path, at=1000):
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def api(server, method, path, user="admin", **kwargs):
    return requests.request(
        method,
        f"{server.url}/api/v0{path}",
        auth=(user, USERS[user][0]),
        timeout=30,
        **kwargs,
    )


def assert_blob_unknown(response):
    assert response.status_code == 404, response.content[:200]
    if response.request.method == "GET":
        assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def quarantine_of(app, digest):
    with app.app_context():
        row = db.session.execute(select(Blob.quarantine).where(Blob.digest == digest)).first()
        db.session.remove()
    return row


@pytest.mark.parametrize(
    ("damage", "stored_size"),
    [
        (lambda data: data[:102_400], 102_400),  # truncated
        (lambda data: data + b"extra", 262_149),  # grown
    ],
    ids=["truncated", "grown"],
)
def test_a_blob_of_the_wrong_size_is_never_served(server, client, damage, stored_size):
    data = os.urandom(SIZE)
    digest = client.push_blob(REPO, data)
    path = blob_file(server, digest)
    path.write_bytes(damage(data))
    assert path.stat().st_size == stored_size

    for _ in range(2):  # the first request finds it, the second sees the quarantine
        pulled = client.request("GET", f"/v2/{REPO}/blobs/{digest}")
        assert_blob_unknown(pulled)
        assert len(pulled.content) < 1000, "no blob bytes"
    assert_blob_unknown(client.request("HEAD", f"/v2/{REPO}/blobs/{digest}"))
    logged = api(server, "GET", "/admin/logs", params={"component": "storage", "q": digest})
    assert any("quarantined" in line["message"] for line in logged.json()["lines"])

    assert client.push_blob(REPO, data) == digest, "a push heals it"
    healed = client.request("GET", f"/v2/{REPO}/blobs/{digest}")
    assert healed.status_code == 200 and healed.content == data
    assert path.read_bytes() == data


def verify(server, *args):
    result = server.cli("storage", "verify", *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_verification_quarantines_damaged_blobs_and_a_push_heals_them(server, client):
    image = simple_image("scrub")
    client.push_image(REPO, "v1", image)
    corrupt, missing = image.layers
    corrupt_digest, missing_digest = sha256(corrupt), sha256(missing)
    flip_a_byte(blob_file(server, corrupt_digest), at=len(corrupt) // 2)
    blob_file(server, missing_digest).unlink()
    before = client.request("GET", f"/v2/{REPO}/blobs/{corrupt_digest}")
    assert before.status_code == 200 and before.content != corrupt, "same size: not seen yet"

    result = verify(server)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert f"corrupt {corrupt_digest} ({len(corrupt)} bytes): the stored bytes hash to" in out
    assert f"missing {missing_digest} ({len(missing)} bytes): no object at" in out
    assert f"  repositories: {REPO}\n" in out
    assert f"  tags: {REPO}:v1\n" in out
    assert "1 corrupt, 1 missing (quarantined)" in out

    time.sleep(LOOKUP_CACHE_SECONDS)  # the server caches blob lookups this long
    for digest in (corrupt_digest, missing_digest):
        assert_blob_unknown(client.request("GET", f"/v2/{REPO}/blobs/{digest}"))
        assert_blob_unknown(client.request("HEAD", f"/v2/{REPO}/blobs/{digest}"))
    mount = client.request(
        "POST", f"/v2/{OTHER}/blobs/uploads/", params={"mount": corrupt_digest, "from": REPO}
    )
    assert mount.status_code == 202, "a quarantined blob is not mounted: it is uploaded"
    client.request("DELETE", mount.headers["Location"])
    config = client.request("GET", f"/v2/{REPO}/blobs/{sha256(image.config)}")
    assert config.status_code == 200 and config.content == image.config

    client.push_image(REPO, "v1", image)  # as docker would: the blobs HEAD says are missing
    for layer in image.layers:
        pulled = client.request("GET", f"/v2/{REPO}/blobs/{sha256(layer)}")
        assert pulled.status_code == 200 and pulled.content == layer
    again = verify(server)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 corrupt, 0 missing" in again.stdout


def wait_for(server, run_id):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = api(server, "GET", f"/admin/storage/verifications/{run_id}").json()
        if body["state"] != "running":
            return body
        time.sleep(0.2)
    raise AssertionError(f"verification {run_id} did not finish")


def test_the_api_verifies_and_reports(server, client):
    data = os.urandom(50_000)
    digest = client.push_blob(OTHER, data)
    client.push_image(OTHER, "api", simple_image("api-scrub", layers=1))
    flip_a_byte(blob_file(server, digest))

    assert api(server, "POST", "/admin/storage/verifications", user="writer").status_code == 403
    started = api(server, "POST", "/admin/storage/verifications")
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "running" and started.json()["job"] == "storageVerify"
    done = wait_for(server, started.json()["id"])
    assert done["state"] == "done", done
    assert done["blobsChecked"] == done["blobsTotal"] > 0
    assert done["bytesChecked"] >= done["bytesTotal"] > 0
    assert done["corrupt"] == 1 and done["missing"] == 0
    assert done["backend"].startswith("filesystem (")
    assert done["report"]["blobs"] == [
        {
            "digest": digest,
            "size": len(data),
            "problem": "corrupt",
            "detail": done["report"]["blobs"][0]["detail"],
            "repositories": [OTHER],
            "tags": [],
        }
    ]
    listed = api(server, "GET", "/admin/storage/verifications").json()
    assert listed["verifications"][0]["id"] == done["id"] and listed["total"] >= 1
    assert api(server, "GET", "/admin/storage/verifications/999999").status_code == 404
    assert api(server, "GET", "/admin/storage/verifications/x").status_code == 404
    audit = api(server, "GET", "/admin/audit", params={"action": "storage.verify"}).json()
    assert any(event["actor"] == "admin" for event in audit["events"]), audit
    assert_blob_unknown(client.request("GET", f"/v2/{OTHER}/blobs/{digest}"))


def test_one_verification_at_a_time_across_processes(server, app):
    with app.app_context():
        run_id = storage_verification.begin_verification("test", actor=None).id
        db.session.commit()  # no transaction held: SQLite's writer lock stays free
        try:
            refused = api(server, "POST", "/admin/storage/verifications")
            assert refused.status_code == 409
            assert refused.json()["errors"][0]["code"] == "JOB_RUNNING"
            cli = verify(server)
            assert cli.returncode == 1 and "running already" in cli.stderr
            with pytest.raises(JobRunning):
                storage_verification.begin_verification("test again")
            db.session.rollback()
            running = api(server, "GET", "/admin/storage/verifications").json()
            assert running["verifications"][0]["state"] == "running"
        finally:
            db.session.rollback()
            finished = storage_verification.execute_verification(run_id)
            db.session.remove()
    assert finished.state == "done"


def test_a_quarantine_never_undoes_a_push_that_touched_the_blob(server, client, app):
    data = os.urandom(10_000)
    digest = client.push_blob(REPO, data)
    with app.app_context():
        touched = db.session.scalar(select(Blob.touched_at).where(Blob.digest == digest))
        db.session.remove()
    client.push_blob(REPO, data)  # pushed again meanwhile: touched again
    with app.app_context():
        assert not quarantine_blob(digest, "corrupt: as read before", touched)
        db.session.remove()
    assert quarantine_of(app, digest) == (None,)


def test_a_restored_blob_is_released_from_quarantine(server, client, app):
    data = os.urandom(30_000)
    digest = client.push_blob(OTHER, data)
    path = blob_file(server, digest)
    path.unlink()
    assert verify(server).returncode == 1
    assert quarantine_of(app, digest)[0].startswith("missing: ")
    path.write_bytes(data)  # restored from a backup
    result = verify(server)
    assert "1 released from quarantine" in result.stdout, result.stdout
    assert quarantine_of(app, digest) == (None,)
    assert client.request("GET", f"/v2/{OTHER}/blobs/{digest}").content == data


def test_garbage_collection_collects_quarantined_garbage_and_keeps_what_images_need(
    server, client, app
):
    garbage = os.urandom(20_000)
    garbage_digest = client.push_blob(REPO, garbage)
    image = simple_image("gc-scrub", layers=1)
    client.push_image(REPO, "gc", image)
    needed_digest = sha256(image.layers[0])
    blob_file(server, garbage_digest).unlink()
    flip_a_byte(blob_file(server, needed_digest), at=10)
    assert verify(server).returncode == 1
    grace = "/admin/settings/registry/garbageCollection"
    assert api(server, "PUT", grace, json={"graceWindowMinutes": 0}).status_code == 200
    try:
        collected = server.cli("gc")
        assert collected.returncode == 0, collected.stdout + collected.stderr
    finally:
        api(server, "PUT", grace, json={"graceWindowMinutes": 60})
    assert quarantine_of(app, garbage_digest) is None, "collected: row and bytes"
    kept = quarantine_of(app, needed_digest)
    assert kept is not None and kept[0].startswith("corrupt: ")
    time.sleep(LOOKUP_CACHE_SECONDS)
    assert_blob_unknown(client.request("GET", f"/v2/{REPO}/blobs/{needed_digest}"))
    client.push_image(REPO, "gc", image)
    assert quarantine_of(app, needed_digest) == (None,)
    assert client.request("GET", f"/v2/{REPO}/blobs/{needed_digest}").content == image.layers[0]
