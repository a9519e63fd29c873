"""Proxy namespaces (pull-through cache) against real upstreams: Debian's docker-registry
(CNCF distribution), with and without token auth, behind a front that counts requests and
fails on demand (tests/support/upstream_registry.py)."""

import concurrent.futures
import hashlib
import json
import os

import pytest

from tests.integration.test_api import Api
from tests.support.client import RegistryClient
from tests.support.images import OCI_INDEX
from tests.support.server import USERS, running_dtr
from tests.support.upstream_registry import (
    FaultyFront,
    ReferenceRegistry,
    push_image,
    push_index,
)

MANIFEST_TYPES = ", ".join(
    (
        OCI_INDEX,
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


@pytest.fixture(scope="module")
def upstream():
    with ReferenceRegistry() as registry:
        yield registry


@pytest.fixture(scope="module")
def front(upstream):
    with FaultyFront(upstream.url) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def dtr(tmp_path_factory):
    with running_dtr(tmp_path_factory.mktemp("pull-through") / "instance") as server:
        yield server


@pytest.fixture
def front_passing(front):
    front.mode = "pass"
    front.fault_path = None
    front.reset()
    yield front
    front.mode = "pass"
    front.fault_path = None


def api(dtr, user="admin"):
    return Api(dtr.url, user, USERS[user][0])


def client(dtr, user="reader"):
    return RegistryClient(dtr.url, user, USERS[user][0]) if user else RegistryClient(dtr.url)


def create_proxy(dtr, name, upstream_url, **fields):
    response = api(dtr).post(
        "/admin/proxies", json={"name": name, "upstreamUrl": upstream_url, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


def pull_manifest(registry, name, reference):
    return registry.request(
        "GET", f"/v2/{name}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
    )


def pull_image(registry, name, reference):
    """Manifest and every blob it names, checked against their digests; the manifest."""
    response = pull_manifest(registry, name, reference)
    assert response.status_code == 200, response.text
    manifest = response.json()
    for descriptor in [manifest["config"], *manifest["layers"]]:
        blob = registry.request("GET", f"/v2/{name}/blobs/{descriptor['digest']}")
        assert blob.status_code == 200, blob.text
        assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == descriptor["digest"]
    return response


def test_a_pull_fills_the_cache_and_the_next_asks_nothing_upstream(dtr, front_passing):
    create_proxy(dtr, "up1", front_passing.url)
    digest = push_image(front_passing.url, "team/app", "1", layers=[b"one", b"two"])
    front_passing.reset()

    first = pull_image(client(dtr), "up1/team/app", "1")
    assert first.headers["Docker-Content-Digest"] == digest
    assert "X-DTR-Proxy-Stale" not in first.headers
    assert front_passing.count("GET", "/v2/team/app/manifests/1") == 1
    blobs_fetched = front_passing.count("GET", "/blobs/")
    assert blobs_fetched == 3  # config and two layers

    again = pull_image(client(dtr, "writer"), "up1/team/app", "1")
    assert again.content == first.content
    # within the tag's interval (300 s): no request upstream at all, not even a HEAD
    assert front_passing.count(None, "/v2/team/app/") == 1 + blobs_fetched

    # cached content is normal content: listed with its tag
    tags = client(dtr).request("GET", "/v2/up1/team/app/tags/list")
    assert tags.json() == {"name": "up1/team/app", "tags": ["1"]}
    listing = api(dtr).get("/repositories/up1")
    assert listing.status_code == 200, listing.text
    assert [r["name"] for r in listing.json()["repositories"]] == ["team/app"]


def test_nobody_pushes_into_a_proxy_namespace(dtr, front_passing):
    create_proxy(dtr, "up2", front_passing.url)
    push_image(front_passing.url, "team/pushed", "1")
    pull_image(client(dtr), "up2/team/pushed", "1")
    for user in ("admin", "writer"):
        registry = client(dtr, user)
        started = registry.request("POST", "/v2/up2/team/pushed/blobs/uploads/")
        assert started.status_code in (401, 403), started.text
        assert started.json()["errors"][0]["code"] in ("DENIED", "UNAUTHORIZED")
        put = registry.request(
            "PUT",
            "/v2/up2/team/pushed/manifests/2",
            data=b"{}",
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert put.status_code in (401, 403), put.text
    assert pull_manifest(client(dtr), "up2/team/pushed", "2").status_code == 404


def test_upstream_down_or_rate_limiting_still_serves_what_was_cached(dtr, upstream, front_passing):
    create_proxy(dtr, "up3", front_passing.url, tagCheckSeconds=0)  # every pull asks upstream
    digest = push_image(front_passing.url, "team/stale", "1", layers=[b"stale layer"])
    pull_image(client(dtr), "up3/team/stale", "1")

    for mode in ("down", "429", "503"):
        front_passing.mode = mode
        cached = pull_image(client(dtr), "up3/team/stale", "1")
        assert cached.headers["Docker-Content-Digest"] == digest
        assert cached.headers["X-DTR-Proxy-Stale"].startswith(f"upstream {front_passing.url}")
        by_digest = pull_manifest(client(dtr), "up3/team/stale", digest)
        assert by_digest.status_code == 200
        assert "X-DTR-Proxy-Stale" not in by_digest.headers  # a digest is never asked again

    # what was never cached fails, naming the upstream's answer
    front_passing.mode = "429"
    never = pull_manifest(client(dtr), "up3/team/never", "1")
    assert never.status_code == 429, never.text
    error = never.json()["errors"][0]
    assert error["code"] == "TOOMANYREQUESTS"
    assert error["message"] == f"upstream {front_passing.url} answered 429"
    assert never.headers["Retry-After"] == "60"
    front_passing.mode = "down"
    never = pull_manifest(client(dtr), "up3/team/never", "1")
    assert never.status_code == 404, never.text
    error = never.json()["errors"][0]
    assert error["code"] == "MANIFEST_UNKNOWN"
    assert error["message"].startswith(
        f"manifest unknown: not cached, and upstream {front_passing.url} could not be reached"
    )

    # the upstream process itself stopped: the same
    front_passing.mode = "pass"
    upstream.stop()
    try:
        cached = pull_image(client(dtr), "up3/team/stale", "1")
        assert "answered 502" in cached.headers["X-DTR-Proxy-Stale"]
        health = api(dtr).get("/admin/proxies/up3").json()["health"]
        assert health["state"] == "unhealthy"
        assert health["lastFailure"].startswith(f"upstream {front_passing.url} ")
    finally:
        upstream.start()
    assert "X-DTR-Proxy-Stale" not in pull_image(client(dtr), "up3/team/stale", "1").headers


def test_a_tag_moved_upstream_is_followed_once_its_interval_passed(dtr, front_passing):
    create_proxy(dtr, "up4", front_passing.url, tagCheckSeconds=0)
    first = push_image(front_passing.url, "team/moving", "latest", layers=[b"first"])
    assert (
        pull_image(client(dtr), "up4/team/moving", "latest").headers["Docker-Content-Digest"]
        == first
    )
    front_passing.reset()
    assert pull_manifest(client(dtr), "up4/team/moving", "latest").status_code == 200
    # the check is a HEAD; the manifest is not fetched again while it did not move
    assert front_passing.count("HEAD", "/manifests/latest") == 1
    assert front_passing.count("GET", "/manifests/latest") == 0
    second = push_image(front_passing.url, "team/moving", "latest", layers=[b"second"])
    moved = pull_image(client(dtr), "up4/team/moving", "latest")
    assert moved.headers["Docker-Content-Digest"] == second != first

    # with an interval, the cache answers without asking until it passed
    patched = api(dtr).patch("/admin/proxies/up4", json={"tagCheckSeconds": 3600})
    assert patched.status_code == 200, patched.text
    assert patched.json()["tagCheckSeconds"] == 3600
    push_image(front_passing.url, "team/moving", "latest", layers=[b"third"])
    pull_manifest(client(dtr), "up4/team/moving", "latest")  # confirms and remembers
    front_passing.reset()
    for _ in range(3):
        assert pull_manifest(client(dtr), "up4/team/moving", "latest").status_code == 200
    assert front_passing.count(None, "/manifests/") == 0


def test_concurrent_pulls_fetch_a_blob_once_and_stream_it_whole(dtr, front_passing):
    create_proxy(dtr, "up5", front_passing.url)
    layer = os.urandom(12 * 1024 * 1024)
    push_image(front_passing.url, "team/big", "1", layers=[layer])
    manifest = pull_manifest(client(dtr), "up5/team/big", "1").json()
    digest = manifest["layers"][0]["digest"]
    front_passing.reset()
    front_passing.mode = "slow"  # the first fetch waits at the front: the others arrive meanwhile
    front_passing.delay = 1.5

    def pull(_):
        response = client(dtr).request("GET", f"/v2/up5/team/big/blobs/{digest}")
        return response.status_code, "sha256:" + hashlib.sha256(response.content).hexdigest()

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(pull, range(6)))
    assert results == [(200, digest)] * 6
    assert front_passing.count("GET", f"/blobs/{digest}") == 1


def test_an_index_and_its_children_pull_through(dtr, front_passing):
    create_proxy(dtr, "up6", front_passing.url)
    index_digest = push_index(front_passing.url, "team/multi", "1")
    index = pull_manifest(client(dtr), "up6/team/multi", "1")
    assert index.status_code == 200, index.text
    assert index.headers["Docker-Content-Digest"] == index_digest
    assert index.headers["Content-Type"] == OCI_INDEX
    children = [entry["digest"] for entry in index.json()["manifests"]]
    assert len(children) == 2
    for child in children:
        pulled = pull_image(client(dtr), "up6/team/multi", child)
        assert pulled.headers["Docker-Content-Digest"] == child


def test_unknown_upstream_content_is_a_clear_not_found(dtr, front_passing):
    create_proxy(dtr, "up7", front_passing.url)
    missing = pull_manifest(client(dtr), "up7/team/nothing", "1")
    assert missing.status_code == 404
    error = missing.json()["errors"][0]
    assert error["code"] == "MANIFEST_UNKNOWN"
    assert "answered 404" in error["message"]
    blob = client(dtr).request("GET", "/v2/up7/team/nothing/blobs/sha256:" + "0" * 64)
    assert blob.status_code == 404
    assert blob.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    # nothing was created by the failed pulls
    assert api(dtr).get("/repositories/up7").json().get("repositories", []) == []


def test_an_upstream_with_token_auth_and_credentials_never_shown(dtr, tmp_path):
    users = {"mirror": "mirror-password"}
    with ReferenceRegistry(token_auth=True, users=users) as upstream:
        digest = push_image(upstream.url, "private/app", "1", auth=("mirror", "mirror-password"))
        created = create_proxy(
            dtr, "up8", upstream.url, username="mirror", password="mirror-password"
        )
        assert created["hasPassword"] is True
        assert "mirror-password" not in json.dumps(created)
        assert "mirror-password" not in api(dtr).get("/admin/proxies").text
        pulled = pull_image(client(dtr), "up8/private/app", "1")
        assert pulled.headers["Docker-Content-Digest"] == digest

        create_proxy(dtr, "up9", upstream.url)  # no credentials: the upstream refuses
        refused = pull_manifest(client(dtr), "up9/private/app", "1")
        assert refused.status_code == 404, refused.text
        message = refused.json()["errors"][0]["message"]
        assert message == f"manifest unknown: not cached, and upstream {upstream.url} answered 401"


def test_registry_mirror_and_ns_routing(dtr, front_passing, upstream):
    create_proxy(dtr, "hubmirror", front_passing.url, defaultMirror=True, visibility="public")
    second = FaultyFront(upstream.url)
    try:
        create_proxy(dtr, "other", second.url, hosts=["other.example"], visibility="public")
        digest = push_image(front_passing.url, "library/tool", "1", layers=[b"tool"])
        anonymous = client(dtr, None)
        # docker with registry-mirrors asks for library/tool as it would ask Docker Hub
        mirrored = pull_image(anonymous, "library/tool", "1")
        assert mirrored.headers["Docker-Content-Digest"] == digest
        assert pull_manifest(client(dtr), "hubmirror/library/tool", digest).status_code == 200
        # containerd names the upstream host: ?ns= picks the proxy bound to it
        routed = anonymous.request(
            "GET",
            "/v2/library/tool/manifests/1?ns=other.example",
            headers={"Accept": MANIFEST_TYPES},
        )
        assert routed.status_code == 200, routed.text
        assert second.count("GET", "/v2/library/tool/manifests/1") == 1
        # a local namespace keeps its own names
        assert pull_manifest(client(dtr), "admin/nothing", "1").status_code == 404
    finally:
        second.close()
        assert api(dtr).patch("/admin/proxies/hubmirror", json={"defaultMirror": False}).ok


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "bad1", "upstreamUrl": "ftp://x"}, "upstreamUrl"),
        ({"name": "bad2", "upstreamUrl": "http://u:p@x"}, "upstreamUrl"),
        ({"name": "bad3", "upstreamUrl": 7}, "upstreamUrl"),
        ({"name": "bad4", "tagCheckSeconds": -1}, "tagCheckSeconds"),
        ({"name": "bad5", "tagCheckSeconds": True}, "tagCheckSeconds"),
        ({"name": "bad6", "evictAfterDays": "7"}, "evictAfterDays"),
        ({"name": "bad7", "hosts": "x"}, "hosts"),
        ({"name": "bad8", "hosts": ["a b"]}, "hosts"),
        ({"name": "bad9", "visibility": "open"}, "visibility"),
        ({"name": "bad10", "defaultMirror": "yes"}, "defaultMirror"),
        ({"name": "bad11", "surprise": 1}, "surprise"),
        ({"name": "Bad Name"}, None),
        ({"name": ["x"]}, "name"),
        ({"name": "bad12", "password": {"a": 1}}, None),
    ],
)
def test_hostile_proxy_bodies_are_refused_and_change_nothing(dtr, body, field):
    response = api(dtr).post("/admin/proxies", json=body)
    assert response.status_code == 400, response.text
    if field:
        assert field in response.text
    name = body["name"] if isinstance(body["name"], str) else "x"
    listed = [proxy["name"] for proxy in api(dtr).get("/admin/proxies").json()["proxies"]]
    assert name not in listed
    assert api(dtr).get(f"/accounts/{name}").status_code in (400, 404)  # no organization


def test_only_admins_manage_proxies(dtr, front_passing):
    create_proxy(dtr, "up10", front_passing.url)
    for user in ("writer", "reader", "nobody"):
        caller = api(dtr, user)
        assert caller.get("/admin/proxies").status_code == 403
        assert caller.post("/admin/proxies", json={"name": "x" + user}).status_code == 403
        assert caller.patch("/admin/proxies/up10", json={"tagCheckSeconds": 1}).status_code == 403
        assert caller.delete("/admin/proxies/up10").status_code == 403
    assert api(dtr).get("/admin/proxies/up10").json()["tagCheckSeconds"] == 300
    assert api(dtr).post("/admin/proxies/up10/check").json() == {"reachable": True, "error": None}
    assert api(dtr).delete("/admin/proxies/up10").status_code == 204
    assert api(dtr).get("/admin/proxies/up10").status_code == 404


def test_tags_not_pulled_for_the_eviction_time_go_and_come_back_on_the_next_pull(
    dtr, front_passing
):
    create_proxy(dtr, "up11", front_passing.url, evictAfterDays=3)
    digest = push_image(front_passing.url, "team/old", "1", layers=[b"old"])
    push_image(front_passing.url, "team/old", "2", layers=[b"recent"])
    pull_image(client(dtr), "up11/team/old", "1")
    pull_image(client(dtr), "up11/team/old", "2")
    dtr.sql(
        "UPDATE tags SET updated_at = '2020-01-01 00:00:00', last_pulled_at = NULL "
        "WHERE name = '1' AND repository_id IN (SELECT r.id FROM repositories r "
        "JOIN accounts a ON a.id = r.namespace_id WHERE a.name = 'up11')"
    )
    evicted = dtr.cli("evict-proxies")
    assert evicted.returncode == 0, evicted.stderr
    assert evicted.stdout.strip() == "evicted 1 tag"
    tags = client(dtr).request("GET", "/v2/up11/team/old/tags/list").json()
    assert tags["tags"] == ["2"]
    front_passing.reset()
    again = pull_image(client(dtr), "up11/team/old", "1")
    assert again.headers["Docker-Content-Digest"] == digest
    assert front_passing.count("GET", "/v2/team/old/manifests/1") == 1
