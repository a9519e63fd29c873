"""Storage usage and namespace quotas through the production server: usage agrees with a
recount of what was pushed (a shared layer counted once per namespace and once overall)
through pushes, cross-repository mounts and deletes; a quota refuses the push that would go
over it with DENIED naming the figures, lets pushes that add nothing through, and announces
its warning threshold and refusals to webhooks."""

import json

import pytest
from jinja2 import Environment

from tests.integration.test_api import Api
from tests.integration.test_webhooks import Receiver
from tests.integration.web_support import portal_session
from tests.support.client import RegistryClient
from tests.support.images import sha256, simple_image
from tests.support.server import USERS, running_dtr

ADMIN = ("admin", USERS["admin"][0])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    instance = tmp_path_factory.mktemp("usage") / "instance"
    env = {"DTR_WEBHOOK_POLL_SECONDS": "1", "DTR_WEBHOOK_ALLOW_LOCAL": "1"}  # receivers: loopback
    with running_dtr(instance, env=env) as process:
        yield process


@pytest.fixture
def api(server):
    return Api(server.url, *ADMIN)


@pytest.fixture
def registry(server):
    return RegistryClient(server.url, *ADMIN)


_orgs = iter(range(1000))


@pytest.fixture
def org(api):
    name = f"usage{next(_orgs)}"
    assert api.post("/accounts", json={"type": "organization", "name": name}).status_code == 201
    for repo in ("a", "b", "c"):
        assert api.post(f"/repositories/{name}", json={"name": repo}).status_code == 201
    return name


def recount(*pushed):
    """What usage should be: each distinct blob once, each (repository, manifest) once."""
    blobs = {}
    manifests = set()
    for repository, image in pushed:
        blobs.update({hash(blob): len(blob) for blob in image.blobs})
        manifests.add((repository, image.manifest))
    return sum(blobs.values()) + sum(len(manifest) for _, manifest in manifests)


def usage(api, path):
    response = api.get(path)
    assert response.status_code == 200, response.text
    return response.json()["usedBytes"]


def filesizeformat(size):
    return Environment().from_string("{{ n|filesizeformat(true) }}").render(n=size)


def test_usage_agrees_with_a_recount_through_pushes_mounts_and_deletes(server, api, registry, org):
    one, two, three = (simple_image(f"{org}-{n}") for n in range(3))
    registry.push_image(f"{org}/a", "one", one)
    registry.push_image(f"{org}/b", "one", one)  # the same layers in a second repository
    registry.push_image(f"{org}/a", "two", two)
    for blob in three.blobs:  # into c by mounting from a
        registry.push_blob(f"{org}/a", blob)
        digest = sha256(blob)
        mounted = registry.request(
            "POST", f"/v2/{org}/c/blobs/uploads/?mount={digest}&from={org}/a"
        )
        assert mounted.status_code == 201, mounted.text
    registry.push_image(f"{org}/c", "three", three)
    pushed = [(f"{org}/a", one), (f"{org}/b", one), (f"{org}/a", two), (f"{org}/c", three)]
    assert usage(api, f"/repositoryNamespaces/{org}/usage") == recount(*pushed)
    assert usage(api, f"/repositories/{org}/a/usage") == recount(pushed[0], pushed[2])
    assert usage(api, f"/repositories/{org}/b/usage") == recount(pushed[1])
    portal = portal_session(server.url, *ADMIN)
    shown = portal.get(f"{server.url}/organizations/{org}").text
    assert f"Storage used: {filesizeformat(recount(*pushed))}" in shown
    # the whole registry: the same layers pushed to another namespace count once more only
    # for their manifest
    before = usage(api, "/admin/usage")
    copy = f"copy{org}"
    assert api.post("/repositories/admin", json={"name": copy}).status_code == 201
    registry.push_image(f"admin/{copy}", "one", one)
    assert usage(api, "/admin/usage") == before + len(one.manifest)
    # deleting a manifest (by digest) removes what only it referenced
    deleted = registry.request("DELETE", f"/v2/{org}/a/manifests/{two.digest}")
    assert deleted.status_code == 202, deleted.text
    remaining = [pushed[0], pushed[1], pushed[3]]
    assert usage(api, f"/repositoryNamespaces/{org}/usage") == recount(*remaining)
    assert usage(api, f"/repositories/{org}/a/usage") == recount(pushed[0])


def test_a_quota_refuses_what_would_go_over_it_and_warns_before(api, registry, org):
    receiver = Receiver().start()
    try:
        hook = {"url": receiver.url, "events": ["quota.warning", "quota.exceeded"]}
        created = api.post(f"/repositoryNamespaces/{org}/webhooks", json=hook)
        assert created.status_code == 201, created.text
        first, big = simple_image(f"{org}-first"), simple_image(f"{org}-big", layers=4)
        registry.push_image(f"{org}/a", "v1", first)
        used = usage(api, f"/repositoryNamespaces/{org}/usage")
        quota = used + len(first.manifest) + 10  # room for the same image in one more repo
        body = {"quotaBytes": quota, "warningPercent": 99}
        set_quota = api.put(f"/repositoryNamespaces/{org}/quota", json=body)
        assert set_quota.status_code == 200, set_quota.text
        assert set_quota.json() == {
            "namespace": org,
            "usedBytes": used,
            "quotaBytes": quota,
            "warningPercent": 99,
        }
        # the same manifest under another tag adds nothing; in repository b only its bytes
        registry.push_image(f"{org}/a", "again", first)
        registry.push_image(f"{org}/b", "v1", first)
        now = usage(api, f"/repositoryNamespaces/{org}/usage")
        assert now == used + len(first.manifest)
        for blob in big.blobs:
            registry.push_blob(f"{org}/a", blob)  # blobs are not limited
        refused = registry.push_manifest(f"{org}/a", "big", big.manifest, big.media_type)
        assert refused.status_code == 403, refused.text
        error = refused.json()["errors"][0]
        assert error["code"] == "DENIED"
        assert error["message"].startswith(f"quota exceeded: used {now} of {quota} bytes")
        assert usage(api, f"/repositoryNamespaces/{org}/usage") == now  # nothing kept
        received = receiver.wait_for(2)
        payloads = sorted((json.loads(body) for _, body in received), key=lambda p: p["event"])
        assert [p["event"] for p in payloads] == ["quota.exceeded", "quota.warning"]
        assert payloads[0]["quotaBytes"] == quota and payloads[0]["usedBytes"] == now
        assert payloads[1]["usedBytes"] == now and payloads[1]["repository"] == f"{org}/b"
        # no limit again: the push goes through
        lifted = api.put(f"/repositoryNamespaces/{org}/quota", json={"quotaBytes": None})
        assert lifted.status_code == 200 and lifted.json()["quotaBytes"] is None
        registry.push_image(f"{org}/a", "big", big)
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "quotaBytes"),
        ({"quotaBytes": "1000"}, "quotaBytes"),
        ({"quotaBytes": -1}, "quotaBytes"),
        ({"quotaBytes": 2**63}, "quotaBytes"),
        ({"quotaBytes": True}, "quotaBytes"),
        ({"quotaBytes": 1.5}, "quotaBytes"),
        ({"quotaBytes": 10, "warningPercent": 0}, "warningPercent"),
        ({"quotaBytes": 10, "warningPercent": 101}, "warningPercent"),
        ({"quotaBytes": 10, "warningPercent": "80"}, "warningPercent"),
        ({"quotaBytes": 10, "owner": "me"}, "owner"),
    ],
)
def test_a_bad_quota_is_refused_naming_the_field(api, org, body, field):
    response = api.put(f"/repositoryNamespaces/{org}/quota", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(f"{field}:")
    assert api.get(f"/repositoryNamespaces/{org}/usage").json()["quotaBytes"] is None


def test_usage_and_quotas_are_for_those_who_may(server, api, org):
    writer = Api(server.url, "writer", USERS["writer"][0])
    nobody = Api(server.url, "nobody", USERS["nobody"][0])
    assert (
        writer.put(f"/repositoryNamespaces/{org}/quota", json={"quotaBytes": 1}).status_code == 403
    )
    assert (
        writer.put("/repositoryNamespaces/writer/quota", json={"quotaBytes": 1}).status_code == 403
    )
    assert nobody.get(f"/repositoryNamespaces/{org}/usage").status_code == 403
    assert nobody.get(f"/repositories/{org}/a/usage").status_code == 404  # private
    assert nobody.get("/admin/usage").status_code == 403
    assert writer.get("/repositoryNamespaces/writer/usage").status_code == 200  # their own
    assert api.get("/repositoryNamespaces/nosuch/usage").status_code == 404
