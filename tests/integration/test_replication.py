"""Replication against real registries: Debian's docker-registry (CNCF distribution) with
token auth and without (behind a front that counts requests and fails on demand), and a
second DTR; both DTRs run under the production server with the replication worker."""

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.integration.test_api import Api
from tests.support.client import RegistryClient
from tests.support.images import OCI_INDEX
from tests.support.server import USERS, running_dtr
from tests.support.signing import CosignSignature, ec_key
from tests.support.upstream_registry import (
    FaultyFront,
    ReferenceRegistry,
    UpstreamClient,
    push_image,
    push_index,
)

ADMIN = ("admin", USERS["admin"][0])
MANIFEST_TYPES = ", ".join(
    (
        OCI_INDEX,
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
FAST = {
    "DTR_REPLICATION_RETRY_SECONDS": "0",
    "DTR_REPLICATION_POLL_SECONDS": "1",
    "DTR_SCHEDULER_TICK_SECONDS": "1",
}


@pytest.fixture(scope="module")
def token_registry():
    with ReferenceRegistry(token_auth=True, users={"robot": "robot-secret"}) as registry:
        yield registry


@pytest.fixture(scope="module")
def plain_registry():
    with ReferenceRegistry() as registry:
        yield registry


@pytest.fixture(scope="module")
def front(plain_registry):
    with FaultyFront(plain_registry.url) as proxy:
        yield proxy


@pytest.fixture
def front_passing(front):
    front.mode = "pass"
    front.reset()
    yield front
    front.mode = "pass"


@pytest.fixture(scope="module")
def dtr(tmp_path_factory):
    instance = tmp_path_factory.mktemp("replication") / "instance"
    names = ("multiarch", "other", "shared-a", "shared-b", "flaky", "release")
    with running_dtr(instance, [f"admin/{name}" for name in names], env=FAST) as server:
        yield server


@pytest.fixture(scope="module")
def other_dtr(tmp_path_factory):
    instance = tmp_path_factory.mktemp("replication-target") / "instance"
    with running_dtr(instance, repositories=("admin/release",), env=FAST) as server:
        yield server


def api(dtr, user="admin"):
    return Api(dtr.url, user, USERS[user][0])


def create_rule(dtr, **fields):
    response = api(dtr).post("/admin/replication", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def settled_runs(dtr, rule, count=1, timeout=60):
    """The rule's runs once at least `count` exist and none is queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        response = api(dtr).get(f"/admin/replication/{rule}/runs")
        assert response.status_code == 200, response.text
        runs = response.json()["runs"]
        busy = [run for run in runs if run["state"] in ("queued", "running")]
        if len(runs) >= count and not busy:
            return runs
        assert time.monotonic() < deadline, f"runs not settled: {runs}"
        time.sleep(0.3)


def run_detail(dtr, run_id):
    response = api(dtr).get(f"/admin/replication-runs/{run_id}")
    assert response.status_code == 200, response.text
    return response.json()


def run_now(dtr, rule, previous):
    response = api(dtr).post(f"/admin/replication/{rule}/run")
    assert response.status_code == 202, response.text
    assert response.json()["trigger"] == "manual"
    return run_detail(dtr, settled_runs(dtr, rule, previous + 1)[0]["id"])


def manifest_of(client, name, reference):
    response = client.request(
        "GET", f"/v2/{name}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
    )
    assert response.status_code == 200, f"{name}:{reference} {response.status_code}"
    return response


def assert_whole(client, name, reference):
    """The manifest and everything it names are there, each matching its digest; the
    manifest's digest."""
    response = manifest_of(client, name, reference)
    digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
    document = response.json()
    for child in document.get("manifests", []):
        assert_whole(client, name, child["digest"])
    for descriptor in [document.get("config"), *document.get("layers", [])]:
        if descriptor:
            blob = client.request("GET", f"/v2/{name}/blobs/{descriptor['digest']}")
            assert blob.status_code == 200, descriptor
            assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == descriptor["digest"]
    return digest


def sign(client, name, digest, size, referrer):
    signature = CosignSignature(digest, size, [(ec_key(), None)], referrer=referrer)
    signature.push(client, name)
    return signature


def test_pushes_replicate_a_signed_multi_arch_index_and_a_moved_tag(dtr, token_registry):
    create_rule(
        dtr,
        name="to-token-registry",
        url=token_registry.url,
        username="robot",
        password="robot-secret",
        repositories=["admin/multi*"],
    )
    local = RegistryClient(dtr.url, *ADMIN)
    index_digest = push_index(dtr.url, "admin/multiarch", "1", auth=ADMIN)
    index = manifest_of(local, "admin/multiarch", "1")
    new_style = sign(local, "admin/multiarch", index_digest, len(index.content), True)
    tag_style = sign(local, "admin/multiarch", index_digest, len(index.content), False)
    push_index(dtr.url, "admin/other", "1", auth=ADMIN)  # no rule covers it

    runs = settled_runs(dtr, "to-token-registry", 3)
    assert {run["trigger"] for run in runs} == {"push"}
    assert all(run["state"] == "succeeded" for run in runs), runs
    assert {(run["tag"], run["digest"]) for run in runs} == {
        ("1", None),
        (None, new_style.digest),
        (tag_style.tag, None),
    }
    tagged = next(run for run in runs if run["tag"] == "1")
    detail = run_detail(dtr, tagged["id"])
    assert [(i["reference"], i["outcome"]) for i in detail["items"]] == [("1", "copied")]
    assert detail["items"][0]["digest"] == index_digest
    assert detail["bytes"] > 0

    remote = UpstreamClient(token_registry.url, "robot", "robot-secret")
    assert assert_whole(remote, "admin/multiarch", "1") == index_digest
    assert assert_whole(remote, "admin/multiarch", new_style.digest) == new_style.digest
    assert assert_whole(remote, "admin/multiarch", tag_style.tag) == tag_style.digest
    other = remote.request("GET", "/v2/admin/other/tags/list")
    assert other.status_code in (401, 404), other.text  # never replicated

    # the tag moves: the next push sends the new index, the remote tag follows
    moved = push_index(dtr.url, "admin/multiarch", "1", auth=ADMIN, marker="second")
    assert moved != index_digest
    runs = settled_runs(dtr, "to-token-registry", 4)
    assert runs[0]["state"] == "succeeded" and runs[0]["copied"] == 1, runs[0]
    assert assert_whole(remote, "admin/multiarch", "1") == moved

    # a whole run finds everything there: all skipped, nothing sent
    whole = run_now(dtr, "to-token-registry", 4)
    assert whole["state"] == "succeeded"
    assert [(i["repository"], i["reference"], i["outcome"]) for i in whole["items"]] == [
        ("admin/multiarch", "1", "skipped")
    ]
    assert whole["bytes"] == 0


def test_blobs_the_remote_has_are_skipped_or_mounted(dtr, front_passing):
    create_rule(
        dtr,
        name="mounts",
        url=front_passing.url,
        repositories=["admin/shared-*"],
        remotePrefix="mirror",
    )
    shared = b"a layer both images have" * 1000
    push_image(dtr.url, "admin/shared-a", "1", layers=[shared, b"only in a"], auth=ADMIN)
    settled_runs(dtr, "mounts", 1)
    front_passing.reset()
    push_image(dtr.url, "admin/shared-b", "1", layers=[shared, b"only in b"], auth=ADMIN)
    runs = settled_runs(dtr, "mounts", 2)
    assert [run["state"] for run in runs] == ["succeeded", "succeeded"]

    plain = UpstreamClient(front_passing.url)
    assert_whole(plain, "mirror/admin/shared-b", "1")
    # the shared layer was mounted from where the first run put it; only the config and
    # the other layer were uploaded
    assert front_passing.count("POST", "from=mirror%2Fadmin%2Fshared-a") == 1
    assert front_passing.count("PUT", "/v2/mirror/admin/shared-b/blobs/uploads/") == 2
    assert front_passing.count("PUT", "/v2/mirror/admin/shared-b/manifests/1") == 1

    # pushing the same image again copies nothing: the tag is there at the same digest
    front_passing.reset()
    push_image(dtr.url, "admin/shared-b", "1", layers=[shared, b"only in b"], auth=ADMIN)
    time.sleep(1.5)
    runs = settled_runs(dtr, "mounts", 2)
    assert front_passing.count("PUT") == 0
    assert front_passing.count("POST") == 0


def test_a_failing_remote_leaves_failed_items_and_a_retry_copies_them(dtr, front_passing):
    create_rule(dtr, name="flaky", url=front_passing.url, repositories=["admin/flaky"])
    front_passing.mode = "503"
    push_image(dtr.url, "admin/flaky", "1", auth=ADMIN)
    [failed] = settled_runs(dtr, "flaky", 1)
    assert failed["state"] == "failed" and failed["failed"] == 1, failed
    [item] = run_detail(dtr, failed["id"])["items"]
    assert item["outcome"] == "failed" and item["attempts"] == 3
    assert "503" in item["error"]

    front_passing.mode = "pass"
    retried = api(dtr).post(f"/admin/replication-runs/{failed['id']}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json()["trigger"] == "retry" and retried.json()["tag"] == "1"
    runs = settled_runs(dtr, "flaky", 2)
    assert runs[0]["state"] == "succeeded" and runs[0]["copied"] == 1, runs[0]
    assert_whole(UpstreamClient(front_passing.url), "admin/flaky", "1")

    # a remote that cannot be reached at all: the run fails with the reason
    front_passing.mode = "down"
    whole = run_now(dtr, "flaky", 2)
    assert whole["state"] == "failed" and whole["items"][0]["outcome"] == "failed"

    # each run's end is an event of the registry (audit log, registry webhooks)
    audited = api(dtr).get("/admin/audit").json()["events"]
    ends = [e for e in audited if e["action"] == "replication.finish"]
    ends = [e for e in ends if e["detail"]["rule"] == "flaky"]
    assert [e["detail"]["state"] for e in ends][:3] == ["failed", "succeeded", "failed"]
    assert ends[0]["target"] == "replication" and ends[0]["detail"]["run"] == whole["id"]


def test_replication_to_a_second_dtr_keeps_referrers(dtr, other_dtr):
    create_rule(
        dtr,
        name="to-other-dtr",
        url=other_dtr.url,
        username="admin",
        password=USERS["admin"][0],
        repositories=["admin/release"],
        tags=["v*"],
    )
    local = RegistryClient(dtr.url, *ADMIN)
    digest = push_index(dtr.url, "admin/release", "v1", auth=ADMIN)
    push_index(dtr.url, "admin/release", "nightly", auth=ADMIN, marker="nightly")  # not v*
    index = manifest_of(local, "admin/release", "v1")
    signature = sign(local, "admin/release", digest, len(index.content), True)
    settled_runs(dtr, "to-other-dtr", 2)
    # a signature of a tag no pattern covers goes with its subject (by digest, untagged)
    nightly = manifest_of(local, "admin/release", "nightly")
    nightly_digest = nightly.headers["Docker-Content-Digest"]
    nightly_signature = sign(local, "admin/release", nightly_digest, len(nightly.content), True)
    runs = settled_runs(dtr, "to-other-dtr", 3)
    assert all(run["state"] == "succeeded" for run in runs), runs

    remote = RegistryClient(other_dtr.url, *ADMIN)
    assert assert_whole(remote, "admin/release", "v1") == digest
    tags = remote.request("GET", "/v2/admin/release/tags/list").json()["tags"]
    assert tags == ["v1"]
    referrers = remote.request("GET", f"/v2/admin/release/referrers/{digest}")
    assert referrers.status_code == 200, referrers.text
    assert [m["digest"] for m in referrers.json()["manifests"]] == [signature.digest]
    assert assert_whole(remote, "admin/release", nightly_digest) == nightly_digest
    of_nightly = remote.request("GET", f"/v2/admin/release/referrers/{nightly_digest}")
    assert [m["digest"] for m in of_nightly.json()["manifests"]] == [nightly_signature.digest]


def test_a_pull_rule_keeps_a_read_only_mirror_in_sync(dtr, plain_registry):
    upstream = plain_registry.url
    first = push_image(upstream, "team/tool", "1", layers=[b"tool one"])
    index = push_index(upstream, "team/tool", "2")
    push_image(upstream, "team/tool", "dev", layers=[b"not wanted"])
    signature = CosignSignature(first, 100, [(ec_key(), None)], referrer=False)
    signature.push(UpstreamClient(upstream), "team/tool")
    rule = create_rule(
        dtr,
        name="tool-mirror",
        direction="pull",
        url=upstream,
        remoteRepository="team/tool",
        localRepository="admin/tool",
        tags=["1", "2"],
    )
    assert rule["localRepository"] == "admin/tool" and rule["onPush"] is False

    run = run_now(dtr, "tool-mirror", 0)
    assert run["state"] == "succeeded", run
    assert sorted((i["reference"], i["outcome"]) for i in run["items"]) == [
        ("1", "copied"),
        ("2", "copied"),
    ]
    local = RegistryClient(dtr.url, *ADMIN)
    assert assert_whole(local, "admin/tool", "1") == first
    assert assert_whole(local, "admin/tool", "2") == index
    assert assert_whole(local, "admin/tool", signature.tag) == signature.digest
    tags = local.request("GET", "/v2/admin/tool/tags/list").json()["tags"]
    assert sorted(tags) == sorted(["1", "2", signature.tag])

    # read-only here: not even an admin pushes into it
    refused = local.request("POST", "/v2/admin/tool/blobs/uploads/")
    assert refused.status_code in (401, 403), refused.text
    listing = api(dtr).get("/repositories/admin/tool")
    assert listing.status_code == 200

    # the remote tag moves: the next run follows it, and skips what did not change
    moved = push_image(upstream, "team/tool", "1", layers=[b"tool one, rebuilt"])
    again = run_now(dtr, "tool-mirror", 1)
    assert sorted((i["reference"], i["outcome"]) for i in again["items"]) == [
        ("1", "copied"),
        ("2", "skipped"),
    ]
    assert assert_whole(local, "admin/tool", "1") == moved

    # deleting the rule makes the repository writable again; its content stays
    assert api(dtr).delete("/admin/replication/tool-mirror").status_code == 204
    push_image(dtr.url, "admin/tool", "3", auth=ADMIN)
    assert assert_whole(local, "admin/tool", "1") == moved


def test_a_schedule_queues_runs(dtr, plain_registry):
    push_image(plain_registry.url, "team/cron", "1")
    create_rule(
        dtr,
        name="every-second",
        direction="pull",
        url=plain_registry.url,
        remoteRepository="team/cron",
        localRepository="admin/cron",
        schedule="* * * * * *",
    )
    runs = settled_runs(dtr, "every-second", 2, timeout=30)
    assert {run["trigger"] for run in runs} == {"schedule"}
    assert runs[-1]["copied"] == 1 and runs[0]["skipped"] == 1
    changed = api(dtr).patch("/admin/replication/every-second", json={"enabled": False})
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    time.sleep(2.5)
    count = len(settled_runs(dtr, "every-second", 2))
    time.sleep(2.5)
    assert len(settled_runs(dtr, "every-second", 2)) == count


HOSTILE = [
    ([], "a JSON object is required"),
    ({"name": "x", "url": "http://h", "repositories": ["a/*"], "color": 1}, "color:"),
    ({"name": "x", "repositories": ["a/*"]}, "url:"),
    ({"name": "x", "url": "ftp://h", "repositories": ["a/*"]}, "url:"),
    ({"name": "x", "url": "http://u:p@h", "repositories": ["a/*"]}, "url:"),
    ({"name": "x", "url": "http://h"}, "repositories:"),
    ({"name": "x", "url": "http://h", "repositories": "a/*"}, "repositories:"),
    ({"name": "x", "url": "http://h", "repositories": ["A B"]}, "repositories:"),
    ({"name": "x", "url": "http://h", "repositories": ["a/*"] * 51}, "repositories:"),
    ({"name": "x", "url": "http://h", "repositories": [["a"]]}, "repositories:"),
    ({"name": "x", "url": "http://h", "repositories": ["a/*"], "tags": [""]}, "tags:"),
    ({"name": "x", "url": "http://h", "repositories": ["a/*"], "onPush": "yes"}, "onPush:"),
    ({"name": "x", "url": "http://h", "repositories": ["a/*"], "schedule": "often"}, "schedule"),
    ({"name": "x", "url": "http://h", "repositories": ["a/*"], "password": 5}, "password:"),
    ({"name": "x", "url": "http://h", "repositories": ["a/*"], "localRepository": "a/b"}, "pull"),
    ({"name": "x", "direction": "sideways", "url": "http://h"}, "direction:"),
    ({"name": "x", "direction": "pull", "url": "http://h", "localRepository": "admin/y"}, "remo"),
    (
        {
            "name": "x",
            "direction": "pull",
            "url": "http://h",
            "remoteRepository": "a/b",
            "localRepository": "ghost/y",
        },
        "no user or organization",
    ),
    ({"name": "Bad Name", "url": "http://h", "repositories": ["a/*"]}, "invalid name"),
    ({"name": 7, "url": "http://h", "repositories": ["a/*"]}, "name:"),
]


@pytest.mark.parametrize(("body", "says"), HOSTILE)
def test_hostile_rule_bodies_are_refused_and_change_nothing(dtr, body, says):
    before = api(dtr).get("/admin/replication").json()["rules"]
    response = api(dtr).post("/admin/replication", json=body)
    assert response.status_code == 400, response.text
    assert says in response.text
    assert api(dtr).get("/admin/replication").json()["rules"] == before
    assert api(dtr).get("/repositories/ghost/y").status_code == 404


def test_rules_are_for_admins_and_secrets_stay_secret(dtr):
    rule = create_rule(
        dtr, name="secretive", url="http://127.0.0.1:9", password="hunter2", repositories=["x/*"]
    )
    assert rule["hasPassword"] is True and "hunter2" not in json.dumps(rule)
    listed = api(dtr).get("/admin/replication").text
    assert "hunter2" not in listed
    for user in ("writer", "reader"):
        for method, path in (
            ("GET", "/admin/replication"),
            ("GET", "/admin/replication/secretive"),
            ("POST", "/admin/replication/secretive/run"),
            ("DELETE", "/admin/replication/secretive"),
        ):
            assert api(dtr, user).request(method, path).status_code == 403, (user, path)
    anonymous = requests.get(f"{dtr.url}/api/v0/admin/replication", timeout=10)
    assert anonymous.status_code == 401
    assert api(dtr).get("/admin/replication/nope").status_code == 404
    for bad in ("abc", "99999999", "1e3", "-1", "１"):
        assert api(dtr).get(f"/admin/replication-runs/{bad}").status_code == 404, bad
    changed = api(dtr).patch("/admin/replication/secretive", json={"direction": "pull"})
    assert changed.status_code == 400 and "direction" in changed.text
    nested = api(dtr).patch("/admin/replication/secretive", json={"tags": [[[["*"]]]]})
    assert nested.status_code == 400
    huge = api(dtr).patch("/admin/replication/secretive", json={"schedule": "x" * 100_000})
    assert huge.status_code in (400, 413)
    assert api(dtr).get("/admin/replication/secretive").json()["tags"] == ["*"]


class _LyingRemote(BaseHTTPRequestHandler):
    """A registry whose tag 1 names a layer it then serves other bytes for."""

    layer = b"the layer the manifest names"
    config = b"{}"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
                    "size": len(layer),
                }
            ],
        }
    ).encode()

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        status, body, headers = self.answer()
        self.send_response(status)
        headers.setdefault("Content-Type", "application/json")
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def answer(self):
        if self.path.startswith("/v2/lie/tags/list"):
            return 200, b'{"name":"lie","tags":["1"]}', {}
        if self.path == "/v2/lie/manifests/1":
            digest = "sha256:" + hashlib.sha256(self.manifest).hexdigest()
            kind = "application/vnd.oci.image.manifest.v1+json"
            return 200, self.manifest, {"Content-Type": kind, "Docker-Content-Digest": digest}
        if self.path.endswith(hashlib.sha256(self.config).hexdigest()):
            return 200, self.config, {"Content-Type": "application/octet-stream"}
        if self.path.startswith("/v2/lie/blobs/"):
            lie = b"other bytes than the manifest says"
            return 200, lie, {"Content-Type": "application/octet-stream"}
        return 404, b"{}", {}

    def log_message(self, *args):
        pass


def test_a_remote_sending_wrong_bytes_leaves_nothing_behind(dtr):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LyingRemote)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        create_rule(
            dtr,
            name="liar",
            direction="pull",
            url=f"http://127.0.0.1:{server.server_address[1]}",
            remoteRepository="lie",
            localRepository="admin/lie",
        )
        run = run_now(dtr, "liar", 0)
    finally:
        server.shutdown()
    assert run["state"] == "failed"
    [item] = run["items"]
    assert item["outcome"] == "failed" and "other bytes" in item["error"], item
    local = RegistryClient(dtr.url, *ADMIN)
    assert local.request("GET", "/v2/admin/lie/tags/list").json()["tags"] == []
    layer = "sha256:" + hashlib.sha256(_LyingRemote.layer).hexdigest()
    assert local.request("HEAD", f"/v2/admin/lie/blobs/{layer}").status_code == 404
    uploads = dtr.instance / "storage" / "uploads"
    assert not uploads.exists() or not [p for p in uploads.iterdir() if "mono-" in p.name]


def test_narrowed_and_revoked_credentials(dtr):
    """An admin's api:read token reads rules but runs and changes none; a registry-only
    token reads nothing; a revoked token is refused."""
    create_rule(dtr, name="narrowed", url="http://127.0.0.1:9", repositories=["x/*"])
    tokens = {}
    for scopes in (["api:read"], ["registry:pull"]):
        body = {"name": f"repl-{scopes[0].replace(':', '-')}", "scopes": scopes}
        made = api(dtr).post("/accounts/admin/tokens", json=body)
        assert made.status_code == 201, made.text
        tokens[scopes[0]] = made.json()
    reader = Api(dtr.url, "admin", tokens["api:read"]["token"])
    assert reader.get("/admin/replication/narrowed").status_code == 200
    for method, path in (
        ("POST", "/admin/replication/narrowed/run"),
        ("PATCH", "/admin/replication/narrowed"),
        ("DELETE", "/admin/replication/narrowed"),
    ):
        refused = reader.request(method, path, json={"enabled": False})
        assert refused.status_code == 403 and "api:write" in refused.text, (method, path)
    registry_only = Api(dtr.url, "admin", tokens["registry:pull"]["token"])
    assert registry_only.get("/admin/replication").status_code == 403
    revoked = api(dtr).delete(f"/accounts/admin/tokens/{tokens['api:read']['id']}")
    assert revoked.status_code == 204
    assert reader.get("/admin/replication").status_code == 401
    assert api(dtr).get("/admin/replication/narrowed/runs").json()["runs"] == []
