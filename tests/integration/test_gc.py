"""Garbage collection against a running DTR (its own server: a collection is registry-wide):
exactly the unreferenced blobs go, shared layers stay while a manifest uses them, the
untagged-manifest rule with index children and referrers, the grace window, abandoned
uploads, dry runs, the lease, the jobs API, history and last savings."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.integration.test_api import Api, expect_error, ok
from tests.support.client import RegistryClient
from tests.support.images import OCI_INDEX, OCI_MANIFEST, Image, index_of, sha256, simple_image
from tests.support.server import USERS, DTRProcess

LONG_AGO = "2000-01-01 00:00:00.000000"
EMPTY_CONFIG = b"{}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("gc") / "instance")
    process.create_users()
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def admin_api(server):
    return Api(server.url, "admin", USERS["admin"][0])


@pytest.fixture(scope="module")
def client(server):
    return RegistryClient(server.url, "admin", USERS["admin"][0])


@pytest.fixture
def gc(server, admin_api):
    """Collect with a grace window of 0 after a first collection that clears what earlier
    tests left, so that each test sees exactly its own garbage."""
    settings(admin_api, graceWindowMinutes=0, deleteUntaggedManifests=True)
    collect(admin_api)
    return lambda dry_run=False: collect(admin_api, dry_run)


def settings(api, **changes):
    return ok(api.put("/admin/settings/registry/garbageCollection", json=changes))


def collect(api, dry_run=False):
    started = ok(api.post("/admin/jobs", json={"job": "registryGC", "dryRun": dry_run}), 202)
    assert started["state"] == "running" and started["dryRun"] is dry_run
    return finished_job(api, started["id"])


def finished_job(api, job_id):
    """The job, once it is no longer running; it must have ended done, without errors."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = ok(api.get(f"/admin/jobs/{job_id}"))
        if job["state"] != "running":
            assert job["state"] == "done", job
            assert job["errors"] == []
            return job
        time.sleep(0.01)
    raise AssertionError("garbage collection did not finish")


def new_repo(api, visibility="private"):
    name = f"gc{uuid.uuid4().hex[:10]}"
    ok(api.post("/repositories/admin", json={"name": name, "visibility": visibility}), 201)
    return f"admin/{name}"


def stored(server, digest):
    algorithm, hexdigest = digest.split(":")
    return (server.instance / "storage" / "blobs" / algorithm / hexdigest[:2] / hexdigest).exists()


def readable(client, repo, data):
    response = client.request("GET", f"/v2/{repo}/blobs/{sha256(data)}")
    return response.status_code == 200 and response.content == data


def database(server, statement, parameters=()):
    return server.sql(statement, parameters)


def eventually(check, seconds=5):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def untag(client, repo, tag):
    assert client.request("DELETE", f"/v2/{repo}/manifests/{tag}").status_code == 202


def referrer_of(client, repo, subject_manifest, marker, tag=None):
    """Push an artifact (a signature, say) whose subject is the given manifest."""
    signature = f"signature {marker}".encode()
    client.push_blob(repo, EMPTY_CONFIG)
    client.push_blob(repo, signature)
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": sha256(EMPTY_CONFIG),
            "size": 2,
        },
        "layers": [
            {"mediaType": "application/octet-stream", "digest": sha256(signature), "size": 15}
        ],
        "subject": {
            "mediaType": OCI_MANIFEST,
            "digest": sha256(subject_manifest),
            "size": len(subject_manifest),
        },
    }
    body["layers"][0]["size"] = len(signature)
    payload = json.dumps(body).encode()
    response = client.push_manifest(repo, tag or sha256(payload), payload, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    return payload, signature


def manifest_exists(client, repo, payload):
    return client.get_manifest(repo, sha256(payload)).status_code == 200


# --- what goes and what stays ------------------------------------------------------------------


def test_collects_exactly_the_unreferenced_blobs(server, admin_api, client, gc):
    repo = new_repo(admin_api)
    kept = simple_image("gc-kept", layers=3)
    client.push_image(repo, "kept", kept)
    loose = [f"loose blob {i} {uuid.uuid4()}".encode() for i in range(3)]
    for blob in loose:
        client.push_blob(repo, blob)
    dropped = simple_image("gc-dropped", layers=2)
    client.push_image(repo, "dropped", dropped)
    untag(client, repo, "dropped")

    job = gc()

    garbage = loose + dropped.blobs
    assert sorted(job["report"]["blobs"]) == sorted(sha256(b) for b in garbage)
    assert job["report"]["manifests"] == [f"{repo}@{dropped.digest}"]
    assert job["report"]["uploads"] == [] and job["report"]["truncated"] is False
    assert (job["blobsDeleted"], job["manifestsDeleted"]) == (len(garbage), 1)
    assert job["bytesReclaimed"] == sum(len(b) for b in garbage)
    for blob in garbage:
        assert not stored(server, sha256(blob))
        head = client.request("HEAD", f"/v2/{repo}/blobs/{sha256(blob)}")
        assert head.status_code == 404
    assert client.get_manifest(repo, dropped.digest).status_code == 404
    for blob in kept.blobs:
        assert stored(server, sha256(blob)) and readable(client, repo, blob)
    assert client.get_manifest(repo, "kept").content == kept.manifest
    assert database(server, "SELECT COUNT(*) FROM blobs WHERE digest = ?", (sha256(loose[0]),)) == [
        (0,)
    ]
    # a blob pushed again after its collection is stored anew
    client.push_blob(repo, loose[0])
    assert readable(client, repo, loose[0])


def test_shared_layers_stay_while_one_repository_references_them(server, admin_api, client, gc):
    first, second = new_repo(admin_api), new_repo(admin_api)
    base = {"base/shared.txt": b"a base layer both images use\n" * 20}
    one = Image([base, {"one.txt": b"one\n"}])
    two = Image([base, {"two.txt": b"two\n"}], cmd=("/two",))
    shared = one.layers[0]
    assert two.layers[0] == shared
    client.push_image(first, "v1", one)
    mounted = requests.post(  # a cross-repository mount (Basic: one scope per token here)
        f"{server.url}/v2/{second}/blobs/uploads/",
        params={"mount": sha256(shared), "from": first},
        auth=("admin", USERS["admin"][0]),
    )
    assert mounted.status_code == 201
    client.push_image(second, "v1", two)

    untag(client, first, "v1")
    job = gc()
    assert sha256(shared) not in job["report"]["blobs"]
    assert sorted(job["report"]["blobs"]) == sorted(sha256(b) for b in (one.config, one.layers[1]))
    assert stored(server, sha256(shared)) and readable(client, second, shared)
    assert readable(client, second, two.layers[1]) and readable(client, second, two.config)

    assert admin_api.delete(f"/repositories/{second}").status_code == 204
    job = gc()
    assert sorted(job["report"]["blobs"]) == sorted(sha256(b) for b in two.blobs)
    assert not stored(server, sha256(shared))


def test_index_children_and_referrers(server, admin_api, client, gc):
    repo = new_repo(admin_api)
    amd, arm = simple_image("gc-idx-amd"), simple_image("gc-idx-arm", arch="arm64")
    for image in (amd, arm):  # children by digest first, as docker pushes them
        for blob in image.blobs:
            client.push_blob(repo, blob)
        assert (
            client.push_manifest(repo, image.digest, image.manifest, OCI_MANIFEST).status_code
            == 201
        )
    index = index_of([(amd, "amd64"), (arm, "arm64")])
    assert client.push_manifest(repo, "multi", index, OCI_INDEX).status_code == 201
    signature_of_index, _ = referrer_of(client, repo, index, "index")
    sbom_of_signature, _ = referrer_of(client, repo, signature_of_index, "sbom-of-signature")
    orphan = simple_image("gc-orphan")
    client.push_image(repo, "orphan", orphan)
    orphan_signature, orphan_signature_blob = referrer_of(client, repo, orphan.manifest, "orphan")
    untag(client, repo, "orphan")

    job = gc()

    for payload in (index, amd.manifest, arm.manifest, signature_of_index, sbom_of_signature):
        assert manifest_exists(client, repo, payload)
    for blob in amd.blobs + arm.blobs:
        assert readable(client, repo, blob)
    assert sorted(job["report"]["manifests"]) == sorted(
        f"{repo}@{sha256(p)}" for p in (orphan.manifest, orphan_signature)
    )
    assert not manifest_exists(client, repo, orphan.manifest)
    assert not manifest_exists(client, repo, orphan_signature)  # went with its subject
    assert sorted(job["report"]["blobs"]) == sorted(
        sha256(b) for b in [*orphan.blobs, orphan_signature_blob]
    )
    referrers = client.request("GET", f"/v2/{repo}/referrers/{sha256(index)}").json()
    assert [d["digest"] for d in referrers["manifests"]] == [sha256(signature_of_index)]

    untag(client, repo, "multi")  # now the whole tree is garbage
    job = gc()
    assert len(job["report"]["manifests"]) == 5
    for blob in amd.blobs + arm.blobs:
        assert not stored(server, sha256(blob))


def test_untagged_rule_and_grace_window(server, admin_api, client, gc):
    repo = new_repo(admin_api)
    image = simple_image("gc-untagged")
    for blob in image.blobs:
        client.push_blob(repo, blob)
    assert client.push_manifest(repo, image.digest, image.manifest, OCI_MANIFEST).status_code == 201
    loose = f"young loose blob {uuid.uuid4()}".encode()
    client.push_blob(repo, loose)

    settings(admin_api, graceWindowMinutes=60)
    job = gc()  # everything is younger than an hour
    assert job["report"]["manifests"] == [] and job["report"]["blobs"] == []

    database(
        server, "UPDATE manifests SET created_at = ? WHERE digest = ?", (LONG_AGO, image.digest)
    )
    settings(admin_api, deleteUntaggedManifests=False)
    job = gc()  # untagged manifests are live with the rule off; their blobs too
    assert job["report"]["manifests"] == [] and job["report"]["blobs"] == []
    assert manifest_exists(client, repo, image.manifest)

    settings(admin_api, deleteUntaggedManifests=True)
    job = gc()  # old and untagged now; its blobs were touched within the hour
    assert job["report"]["manifests"] == [f"{repo}@{image.digest}"]
    assert job["report"]["blobs"] == []
    for blob in image.blobs:
        assert readable(client, repo, blob)

    database(server, "UPDATE blobs SET touched_at = ?", (LONG_AGO,))
    job = gc()
    assert sorted(job["report"]["blobs"]) == sorted(sha256(b) for b in [*image.blobs, loose])


# --- abandoned uploads -------------------------------------------------------------------------


def test_abandoned_uploads_are_cleaned(server, admin_api, client, gc):
    repo = new_repo(admin_api)
    uploads = server.instance / "storage" / "uploads"

    def start_upload(data):
        started = client.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202
        location = started.headers["Location"]
        patched = client.request(
            "PATCH", location, data=data, headers={"Content-Type": "application/octet-stream"}
        )
        assert patched.status_code == 202
        return started.headers["Docker-Upload-UUID"], patched.headers["Location"]

    idle_id, idle_location = start_upload(b"abandoned half")
    active_id, active_location = start_upload(b"still going ")
    database(server, "UPDATE uploads SET updated_at = ? WHERE id = ?", (LONG_AGO, idle_id))
    old_stamp = int(time.time()) - 2 * 3600
    old_mono = uploads / f"mono-{old_stamp}-{uuid.uuid4().hex}"
    fresh_mono = uploads / f"mono-{int(time.time())}-{uuid.uuid4().hex}"
    orphan = uploads / str(uuid.uuid4())
    for path in (old_mono, fresh_mono, orphan):
        path.write_bytes(b"left behind")

    job = gc()

    assert sorted(job["report"]["uploads"]) == sorted(
        f"uploads/{name}" for name in (idle_id, old_mono.name, orphan.name)
    )
    assert job["uploadsDeleted"] == 3
    assert not (uploads / idle_id).exists() and not old_mono.exists() and not orphan.exists()
    assert fresh_mono.exists() and (uploads / active_id).exists()
    assert database(server, "SELECT id FROM uploads WHERE id IN (?, ?)", (idle_id, active_id)) == [
        (active_id,)
    ]
    gone = client.request(
        "PATCH", idle_location, data=b"more", headers={"Content-Type": "application/octet-stream"}
    )
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    data = b"still going strong"
    finished = client.request(
        "PUT",
        active_location,
        params={"digest": sha256(data)},
        data=b"strong",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert finished.status_code == 201, finished.text
    assert readable(client, repo, data)
    fresh_mono.unlink()


# --- dry run, lease, jobs API ------------------------------------------------------------------


def test_dry_run_lists_and_deletes_nothing(server, admin_api, client, gc):
    repo = new_repo(admin_api)
    image = simple_image("gc-dry")
    client.push_image(repo, "dry", image)
    untag(client, repo, "dry")

    dry = gc(dry_run=True)
    assert dry["dryRun"] is True and dry["triggeredBy"] == "api:admin"
    assert dry["report"]["manifests"] == [f"{repo}@{image.digest}"]
    assert sorted(dry["report"]["blobs"]) == sorted(sha256(b) for b in image.blobs)
    assert (dry["manifestsDeleted"], dry["blobsDeleted"]) == (1, len(image.blobs))
    assert manifest_exists(client, repo, image.manifest)
    for blob in image.blobs:
        assert readable(client, repo, blob)
    savings = ok(admin_api.get("/admin/settings/registry/garbageCollection/lastSavings"))
    assert savings["jobId"] != dry["id"]  # a dry run saves nothing

    real = gc()
    assert sorted(real["report"]["blobs"]) == sorted(dry["report"]["blobs"])
    assert real["bytesReclaimed"] == dry["bytesReclaimed"] == sum(len(b) for b in image.blobs)
    savings = ok(admin_api.get("/admin/settings/registry/garbageCollection/lastSavings"))
    assert savings == {
        "jobId": real["id"],
        "finishedAt": real["finishedAt"],
        "manifestsDeleted": 1,
        "blobsDeleted": len(image.blobs),
        "bytesReclaimed": real["bytesReclaimed"],
    }


def test_lease_allows_one_collection_at_a_time(server, admin_api, gc):
    expires = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S.%f")
    database(
        server,
        "INSERT INTO job_leases (name, holder, expires_at) VALUES ('registry-gc', ?, ?)",
        ("another-process:4242:abc", expires),
    )
    database(
        server,
        "INSERT INTO gc_runs (triggered_by, dry_run, state, phase, holder, started_at, "
        "manifests_deleted, blobs_deleted, bytes_reclaimed, uploads_deleted, errors) "
        "VALUES ('cli', false, 'running', 'deleting blobs', 'another-process:4242:abc', ?, "
        "0, 0, 0, 0, '[]')",
        (LONG_AGO,),
    )
    refused = admin_api.post("/admin/jobs", json={"job": "registryGC"})
    expect_error(refused, 409, "JOB_RUNNING")
    cli = server.cli("gc")
    assert cli.returncode == 1 and "running already" in cli.stderr
    jobs = ok(admin_api.get("/admin/jobs"))["jobs"]
    assert jobs[0]["state"] == "running" and jobs[0]["triggeredBy"] == "cli"

    # the other process died: its lease expires, the next run takes over
    database(server, "UPDATE job_leases SET expires_at = ?", (LONG_AGO,))
    job = collect(admin_api)
    interrupted = ok(admin_api.get(f"/admin/jobs/{jobs[0]['id']}"))
    assert interrupted["state"] == "failed" and interrupted["finishedAt"]
    assert "interrupted" in interrupted["errors"][0]
    assert job["id"] > interrupted["id"]
    assert database(server, "SELECT COUNT(*) FROM job_leases") == [(0,)]  # released


def test_cli_collects_beside_the_server(server, admin_api, client, gc):
    repo = new_repo(admin_api)
    image = simple_image("gc-cli")
    client.push_image(repo, "cli", image)
    untag(client, repo, "cli")
    dry = server.cli("gc", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would delete manifest {repo}@{image.digest}" in dry.stdout
    assert "would delete 1 manifests, 3 blobs" in dry.stdout
    assert manifest_exists(client, repo, image.manifest)
    real = server.cli("gc")
    assert real.returncode == 0, real.stderr
    assert " done in " in real.stdout and "deleted 1 manifests, 3 blobs" in real.stdout
    # the server's lookup caches learn of another process's deletes within seconds
    assert eventually(lambda: not manifest_exists(client, repo, image.manifest))
    head = f"/v2/{repo}/blobs/{sha256(image.layers[0])}"
    assert eventually(lambda: client.request("HEAD", head).status_code == 404)
    jobs = ok(admin_api.get("/admin/jobs", params={"limit": 2}))
    assert [j["triggeredBy"] for j in jobs["jobs"]] == ["cli", "cli"]
    assert [j["dryRun"] for j in jobs["jobs"]] == [False, True]  # newest first
    assert jobs["total"] >= 4 and jobs["limit"] == 2


def test_jobs_api_validation_and_permissions(server, admin_api):
    writer = Api(server.url, "writer", USERS["writer"][0])
    expect_error(writer.post("/admin/jobs", json={"job": "registryGC"}), 403, "NOT_AUTHORIZED")
    expect_error(writer.get("/admin/jobs"), 403, "NOT_AUTHORIZED")
    expect_error(
        writer.get("/admin/settings/registry/garbageCollection/lastSavings"), 403, "NOT_AUTHORIZED"
    )
    expect_error(Api(server.url).get("/admin/jobs/1"), 401, "NOT_AUTHENTICATED")
    expect_error(admin_api.post("/admin/jobs", json={"job": "other"}), 400, "INVALID_INPUT", "job")
    expect_error(admin_api.post("/admin/jobs", json={}), 400, "INVALID_INPUT", "job")
    bad_dry = admin_api.post("/admin/jobs", json={"job": "registryGC", "dryRun": "yes"})
    expect_error(bad_dry, 400, "INVALID_INPUT", "dryRun")
    expect_error(admin_api.get("/admin/jobs/999999"), 404, "NO_SUCH_RESOURCE")
    expect_error(admin_api.get("/admin/jobs/abc"), 404, "NO_SUCH_RESOURCE")
    expect_error(admin_api.get("/admin/jobs", params={"limit": "x"}), 400, "INVALID_INPUT", "limit")


def test_settings_api(server, admin_api):
    path = "/admin/settings/registry/garbageCollection"
    assert settings(admin_api, graceWindowMinutes=90) == {
        "graceWindowMinutes": 90,
        "deleteUntaggedManifests": True,
    }
    assert ok(admin_api.get(path))["graceWindowMinutes"] == 90
    for body, name in (
        ({"graceWindowMinutes": -1}, "graceWindowMinutes"),
        ({"graceWindowMinutes": 43201}, "graceWindowMinutes"),
        ({"graceWindowMinutes": "5"}, "graceWindowMinutes"),
        ({"graceWindowMinutes": True}, "graceWindowMinutes"),
        ({"deleteUntaggedManifests": 1}, "deleteUntaggedManifests"),
        ({"colour": "blue"}, "colour"),
    ):
        expect_error(admin_api.put(path, json=body), 400, "INVALID_INPUT", name)
    assert ok(admin_api.get(path))["graceWindowMinutes"] == 90  # refused changes change nothing
    reader = Api(server.url, "reader", USERS["reader"][0])
    expect_error(reader.put(path, json={"graceWindowMinutes": 1}), 403, "NOT_AUTHORIZED")


def test_schedule_api(server, admin_api):
    path = "/admin/settings/registry/garbageCollection/schedule"
    assert ok(admin_api.get(path)) == {"schedule": "", "nextRuns": []}
    stored = ok(admin_api.post(path, json={"schedule": "0 0 0 * * *"}))
    assert stored["schedule"] == "0 0 0 * * *"
    runs = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in stored["nextRuns"]]
    assert len(runs) == 3 and all(t.hour == t.minute == t.second == 0 for t in runs)
    assert runs[1] - runs[0] == timedelta(days=1) and runs[0] > datetime.now(UTC)
    assert ok(admin_api.get(path)) == stored
    refused = admin_api.post(path, json={"schedule": "0 0 61 * *"})
    error = expect_error(refused, 400, "INVALID_INPUT", "schedule")
    assert "out of range" in error["message"]
    expect_error(
        admin_api.post(path, json={"schedule": "@often"}), 400, "INVALID_INPUT", "schedule"
    )
    expect_error(admin_api.post(path, json={"schedule": 5}), 400, "INVALID_INPUT", "schedule")
    assert ok(admin_api.get(path))["schedule"] == "0 0 0 * * *"
    assert ok(admin_api.post(path, json={"schedule": "@hourly"}))["schedule"] == "@hourly"
    assert ok(admin_api.post(path, json={"schedule": ""})) == {"schedule": "", "nextRuns": []}
    events = ok(admin_api.get("/admin/audit", params={"limit": 20}))["events"]
    assert [e["detail"] for e in events if e["action"] == "settings.gc.schedule"][:2] == [
        {"schedule": ""},
        {"schedule": "@hourly"},
    ]
