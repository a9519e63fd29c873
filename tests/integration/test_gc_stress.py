"""Garbage collection racing pushes: the server under gunicorn, threads pushing images that
share layers (monolithic and chunked uploads, indexes whose children go first by digest,
tags overwritten so that garbage keeps appearing) while garbage collection runs in a loop
with a grace window of 0, in the server and from the command line (another process). Then
every manifest's blobs must be present and readable, every tag must point at the last
image pushed to it, and every failed push must have failed cleanly (MANIFEST_BLOB_UNKNOWN,
BLOB_UNKNOWN) and succeeded when the test pushed it again."""

import hashlib
import json
import random
import threading
import time
import uuid
from functools import partial

import pytest

from tests.integration.test_api import Api, ok
from tests.integration.test_gc import collect, settings
from tests.support.client import RegistryClient
from tests.support.images import OCI_INDEX, OCI_MANIFEST, sha256
from tests.support.server import USERS, DTRProcess

PUSHERS = 4
IMAGES_PER_PUSHER = 24
ATTEMPTS = 40
TAGS_PER_PUSHER = 3
CLEAN_FAILURES = {"MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN"}
RUN = uuid.uuid4().hex[:6]
BASE_LAYERS = [f"base layer {i} {RUN}\n".encode() * (200 + 50 * i) for i in range(5)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("gc-stress") / "instance")
    process.create_users()
    process.start()
    yield process
    process.stop()


class CleanFailure(Exception):
    """The push failed the way a client can recover from: push again."""


class Pusher:
    """Pushes `images` images (every sixth an index) to `repos` on `server` (anything with a
    `url`: a DTR, or a load balancer in front of several), a push that failed cleanly again."""

    def __init__(self, server, number, repos, images=IMAGES_PER_PUSHER):
        self.client = RegistryClient(server.url, "admin", USERS["admin"][0])
        self.number = number
        self.repos = repos
        self.images = images
        self.random = random.Random(number)
        self.clean_failures = []
        self.hard_failures = []
        self.last_pushed = {}  # (repo, tag) -> manifest digest

    def image(self, index):
        """Config and layers: two shared base layers and one of its own."""
        unique = f"pusher {self.number} image {index} {RUN}\n".encode() * 30
        layers = self.random.sample(BASE_LAYERS, 2) + [unique]
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": [self.number, index]})
        config = config.encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar", x) for x in layers],
        }
        return [config, *layers], json.dumps(manifest).encode()

    def run(self):
        for index in range(self.images):
            repo = self.repos[index % len(self.repos)]
            tag = f"p{self.number}-{index % TAGS_PER_PUSHER}"
            try:
                if index % 6 == 5:
                    digest = self.with_retries(partial(self.push_index, repo, tag, index))
                else:
                    blobs, manifest = self.image(index)
                    digest = self.with_retries(partial(self.push, repo, tag, blobs, manifest))
                self.last_pushed[(repo, tag)] = digest
            except AssertionError as error:
                self.hard_failures.append(str(error))

    def with_retries(self, push):
        for _ in range(ATTEMPTS):
            try:
                return push()
            except CleanFailure as failure:
                self.clean_failures.append(str(failure))
        raise AssertionError(f"pusher {self.number}: no luck after {ATTEMPTS} attempts")

    def push(self, repo, reference, blobs, manifest):
        for blob in blobs:
            if self.client.request("HEAD", f"/v2/{repo}/blobs/{sha256(blob)}").status_code == 200:
                continue  # as docker does: already there, not sent again
            self.upload(repo, blob)
        response = self.client.push_manifest(repo, reference, manifest, OCI_MANIFEST)
        self.check(response, 201, f"PUT manifest {reference}")
        assert response.headers["Docker-Content-Digest"] == sha256(manifest)
        return sha256(manifest)

    def push_index(self, repo, tag, index):
        """Children by digest first, then the index under the tag, as docker pushes."""
        children = []
        for arch in ("amd64", "arm64"):
            blobs, manifest = self.image(f"{index}-{arch}")
            self.push(repo, sha256(manifest), blobs, manifest)
            children.append(
                {
                    **_descriptor(OCI_MANIFEST, manifest),
                    "platform": {"os": "linux", "architecture": arch},
                }
            )
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
        response = self.client.push_manifest(repo, tag, body.encode(), OCI_INDEX)
        self.check(response, 201, f"PUT index {tag}")
        return sha256(body.encode())

    def upload(self, repo, blob):
        digest = sha256(blob)
        if self.random.random() < 0.5:  # monolithic
            response = self.client.request(
                "POST", f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=blob
            )
            self.check(response, 201, f"POST blob {digest}")
            return
        started = self.client.request("POST", f"/v2/{repo}/blobs/uploads/")
        self.check(started, 202, "POST upload")
        half = len(blob) // 2
        patched = self.client.request(
            "PATCH",
            started.headers["Location"],
            data=blob[:half],
            headers={"Content-Type": "application/octet-stream"},
        )
        self.check(patched, 202, "PATCH upload")
        finished = self.client.request(
            "PUT", patched.headers["Location"], params={"digest": digest}, data=blob[half:]
        )
        self.check(finished, 201, f"PUT upload {digest}")

    def check(self, response, status, what):
        if response.status_code == status:
            return
        try:
            code = response.json()["errors"][0]["code"]
        except (ValueError, KeyError, IndexError):
            code = None
        message = f"{what}: {response.status_code} {response.text[:300]}"
        if code in CLEAN_FAILURES:
            raise CleanFailure(message)
        raise AssertionError(message)


def _descriptor(media_type, data):
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}


def test_pushes_racing_garbage_collection_lose_nothing(server):
    admin = Api(server.url, "admin", USERS["admin"][0])
    repos = []
    for name in ("stress-a", "stress-b"):
        ok(admin.post("/repositories/admin", json={"name": f"{name}-{RUN}"}), 201)
        repos.append(f"admin/{name}-{RUN}")
    settings(admin, graceWindowMinutes=0, deleteUntaggedManifests=True)

    pushers = [Pusher(server, number, repos) for number in range(PUSHERS)]
    threads = [threading.Thread(target=p.run, name=f"pusher-{p.number}") for p in pushers]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    runs, cli_runs, deleted = 0, 0, {"manifests": 0, "blobs": 0}
    while any(thread.is_alive() for thread in threads):
        assert time.monotonic() - started < 300, "pushes took too long"
        if runs % 10 == 9:  # another process: the command line, beside the server
            result = server.cli("gc")
            assert result.returncode == 0, result.stderr
            cli_runs += 1
        else:
            job = collect(admin)
            deleted["manifests"] += job["manifestsDeleted"]
            deleted["blobs"] += job["blobsDeleted"]
        runs += 1
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    final = collect(admin)  # and a last one, with every push done

    hard = [failure for p in pushers for failure in p.hard_failures]
    assert hard == []
    clean = [failure for p in pushers for failure in p.clean_failures]
    print(
        f"\n{PUSHERS * IMAGES_PER_PUSHER} pushes in {elapsed:.1f} s beside {runs} collections "
        f"({cli_runs} from the command line) that deleted {deleted['manifests']} manifests and "
        f"{deleted['blobs']} blobs (the server's runs); {len(clean)} pushes failed cleanly and "
        f"were pushed again; final run: {final['manifestsDeleted']} manifests, "
        f"{final['blobsDeleted']} blobs"
    )
    assert runs >= 5 and deleted["blobs"] > 0 and deleted["manifests"] > 0

    verify_last_pushed(RegistryClient(server.url, "admin", USERS["admin"][0]), pushers, repos)
    verify_database(server)


def verify_last_pushed(reader, pushers, repos):
    """Every tag of every repository points at the image its pusher pushed last, whole;
    {(repository, tag): manifest digest}."""
    expected = {key: digest for p in pushers for key, digest in p.last_pushed.items()}
    assert len(expected) == len(pushers) * TAGS_PER_PUSHER * len(repos)
    for (repo, tag), digest in expected.items():
        response = reader.get_manifest(repo, tag)
        assert response.status_code == 200, (repo, tag)
        assert response.headers["Docker-Content-Digest"] == digest
        verify_manifest(reader, repo, response.content)
    return expected


def verify_manifest(reader, repo, payload):
    """Every blob of the manifest (and of an index's children) is readable and whole."""
    document = json.loads(payload)
    for child in document.get("manifests", []):
        response = reader.get_manifest(repo, child["digest"])
        assert response.status_code == 200, child
        verify_manifest(reader, repo, response.content)
    for descriptor in [document.get("config"), *document.get("layers", [])]:
        if descriptor is None:
            continue
        blob = reader.request("GET", f"/v2/{repo}/blobs/{descriptor['digest']}")
        assert blob.status_code == 200, descriptor
        assert len(blob.content) == descriptor["size"]
        assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == descriptor["digest"]


def verify_database(server, stored_size=None):
    """No manifest left (tagged or not) names a blob without its row, link and bytes;
    `stored_size(digest)`: the size of its bytes on the storage, None when missing (default:
    the file in the server's storage folder)."""
    stored_size = stored_size or partial(stored_file_size, server)
    rows = server.sql(
        "SELECT m.repository_id, r.digest, b.size, rb.digest FROM manifest_references r "
        "JOIN manifests m ON m.id = r.manifest_id "
        "LEFT JOIN blobs b ON b.digest = r.digest "
        "LEFT JOIN repository_blobs rb ON rb.digest = r.digest "
        "AND rb.repository_id = m.repository_id WHERE r.kind = 'blob'"
    )
    orphans = server.sql(
        "SELECT COUNT(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM manifest_references "
        "r WHERE r.digest = b.digest AND r.kind = 'blob')"
    )[0][0]
    assert rows
    for _, digest, size, linked in rows:
        assert size is not None, f"{digest}: a manifest names a blob with no row"
        assert linked is not None, f"{digest}: not linked to the manifest's repository"
        assert stored_size(digest) == size, f"{digest}: bytes missing"
    assert orphans == 0  # the last collection (grace 0) left no unreferenced blob


def stored_file_size(server, digest):
    hexdigest = digest.split(":")[1]
    path = server.instance / "storage" / "blobs" / "sha256" / hexdigest[:2] / hexdigest
    return path.stat().st_size if path.is_file() else None
