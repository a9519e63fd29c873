"""Retention policies through the production server, on a repository holding a multi-arch
index with a cosign signature (tag scheme) and an SBOM referrer: a dry run reports exactly
what the rules would delete and deletes nothing; the real run deletes exactly that, keeps
immutable and signature tags, and after garbage collection the kept index still has its
platforms and referrers; deleted tags are restorable; runs are kept as history. Bad rules are
refused naming the rule and field; policies are for the admins of their scope."""

import time
import uuid

import pytest

from tests.integration.test_api import Api
from tests.integration.test_gc import collect, new_repo, settings
from tests.support.client import RegistryClient
from tests.support.images import OCI_INDEX, OCI_MANIFEST, index_of, sha256, simple_image
from tests.support.server import USERS, DTRProcess
from tests.support.signing import CosignSignature, artifact, ec_key


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(
        tmp_path_factory.mktemp("retention") / "instance", env={"DTR_TAG_RESTORE_DAYS": "14"}
    )
    process.create_users()
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def api(server):
    admin = Api(server.url, "admin", USERS["admin"][0])
    settings(admin, graceWindowMinutes=0, deleteUntaggedManifests=True)
    return admin


@pytest.fixture(scope="module")
def client(server):
    return RegistryClient(server.url, "admin", USERS["admin"][0])


def tags_of(client, repo):
    return sorted(client.request("GET", f"/v2/{repo}/tags/list").json()["tags"])


def manifest_status(client, repo, digest):
    accept = f"{OCI_MANIFEST},{OCI_INDEX}"
    return client.get_manifest(repo, digest, accept=accept).status_code


RULES = [
    {"keep": "mostRecent", "count": 2, "tags": "v*", "exclude": "*-rc"},
    {"keep": "pushedOrPulledWithinDays", "days": 7, "tags": "release"},
]


def test_a_dry_run_then_a_run_keep_exactly_what_the_rules_say(server, api, client):
    repo = new_repo(api)
    amd, arm = simple_image("ret-amd"), simple_image("ret-arm", arch="arm64")
    for image in (amd, arm):  # children by digest, as docker pushes them
        for blob in image.blobs:
            client.push_blob(repo, blob)
        pushed = client.push_manifest(repo, image.digest, image.manifest, OCI_MANIFEST)
        assert pushed.status_code == 201
    index = index_of([(amd, "amd64"), (arm, "arm64")])
    assert client.push_manifest(repo, "release", index, OCI_INDEX).status_code == 201
    signature = CosignSignature(sha256(index), len(index), [(ec_key(), None)], referrer=False)
    signature.push(client, repo)  # tagged sha256-<hex>.sig
    sbom, sbom_blobs = artifact(sha256(index), len(index), "application/spdx+json", b"{}", "x")
    for blob in sbom_blobs:
        client.push_blob(repo, blob)
    assert client.push_manifest(repo, sha256(sbom), sbom, OCI_MANIFEST).status_code == 201
    for tag in ("v1", "v2", "v3-rc", "v3", "dev-1", "scratch"):
        client.push_image(repo, tag, simple_image(f"ret-{tag}-{uuid.uuid4().hex[:6]}"))
    rule = api.post(f"/repositories/{repo}/immutableTagRules", json={"pattern": "dev-*"})
    assert rule.status_code == 201
    assert (
        api.put(f"/repositories/{repo}/retentionPolicy", json={"rules": RULES}).status_code == 200
    )
    before = tags_of(client, repo)
    expected_gone = ["scratch", "v1", "v3-rc"]  # v2, v3: the two newest v* (not -rc)
    expected_kept = sorted(set(before) - set(expected_gone))
    assert signature.tag in expected_kept

    dry = api.post(f"/repositories/{repo}/retentionPolicy/runs", json={"dryRun": True})
    assert dry.status_code == 201, dry.text
    assert dry.json()["repositories"][repo] == {"deleted": expected_gone, "kept": expected_kept}
    assert dry.json()["tagsDeleted"] == 3 and dry.json()["dryRun"] is True
    assert tags_of(client, repo) == before  # nothing deleted

    real = api.post(f"/repositories/{repo}/retentionPolicy/runs", json={})
    assert real.status_code == 201, real.text
    assert real.json()["repositories"][repo]["deleted"] == expected_gone
    assert tags_of(client, repo) == expected_kept
    collect(api)
    for payload in (index, amd.manifest, arm.manifest, sbom, signature.manifest):
        assert manifest_status(client, repo, sha256(payload)) == 200  # the release is whole
    referrers = client.request("GET", f"/v2/{repo}/referrers/{sha256(index)}").json()
    assert [d["digest"] for d in referrers["manifests"]] == [sha256(sbom)]
    restorable = {
        d["tag"] for d in api.get(f"/repositories/{repo}/deletedTags").json()["deletedTags"]
    }
    assert restorable == set(expected_gone)
    runs = api.get(f"/repositories/{repo}/retentionPolicy/runs").json()["runs"]
    assert [(r["dryRun"], r["tagsDeleted"]) for r in runs] == [(False, 3), (True, 3)]
    assert runs[0]["triggeredBy"] == "api:admin"


def test_a_namespace_policy_applies_where_no_repository_policy_does(server, api, client):
    org = f"retorg{uuid.uuid4().hex[:6]}"
    assert api.post("/accounts", json={"type": "organization", "name": org}).status_code == 201
    for name in ("one", "two"):
        assert api.post(f"/repositories/{org}", json={"name": name}).status_code == 201
        for tag in ("a", "b"):
            client.push_image(f"{org}/{name}", tag, simple_image(f"{org}-{name}-{tag}"))
    policy = {"rules": [{"keep": "mostRecent", "count": 1}]}
    assert api.put(f"/repositoryNamespaces/{org}/retentionPolicy", json=policy).status_code == 200
    own = {"rules": [{"keep": "mostRecent", "count": 5}]}
    assert api.put(f"/repositories/{org}/two/retentionPolicy", json=own).status_code == 200
    run = api.post(f"/repositoryNamespaces/{org}/retentionPolicy/runs", json={})
    assert run.status_code == 201, run.text
    assert run.json()["repositories"] == {f"{org}/one": {"deleted": ["a"], "kept": ["b"]}}
    assert tags_of(client, f"{org}/two") == ["a", "b"]


@pytest.mark.parametrize(
    "rules, field",
    [
        ("keep all", "rules"),
        ([], "rules"),
        ([{"keep": "mostRecent", "count": 1}] * 11, "rules"),
        (["mostRecent"], "rules[0]"),
        ([{"keep": "oldest", "count": 1}], "rules[0].keep"),
        ([{"keep": "mostRecent", "count": 0}], "rules[0].count"),
        ([{"keep": "mostRecent", "count": "3"}], "rules[0].count"),
        ([{"keep": "mostRecent", "count": True}], "rules[0].count"),
        ([{"keep": "mostRecent", "days": 3}], "rules[0].days"),
        ([{"keep": "pushedOrPulledWithinDays", "days": 10**9}], "rules[0].days"),
        ([{"keep": "mostRecent", "count": 1, "tags": "a b"}], "rules[0].tags"),
        ([{"keep": "mostRecent", "count": 1, "exclude": 5}], "rules[0].exclude"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule_and_field(api, rules, field):
    repo = f"admin/badrules{abs(hash(field)) % 1000}"
    api.post("/repositories/admin", json={"name": repo.split("/")[1]})
    response = api.put(f"/repositories/{repo}/retentionPolicy", json={"rules": rules})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(f"{field}:"), response.text
    assert api.get(f"/repositories/{repo}/retentionPolicy").status_code == 404


def test_policies_are_for_the_admins_of_their_scope(server, api):
    repo = new_repo(api)
    writer, nobody = (Api(server.url, u, USERS[u][0]) for u in ("writer", "nobody"))
    policy = {"rules": [{"keep": "mostRecent", "count": 1}]}
    assert writer.put(f"/repositories/{repo}/retentionPolicy", json=policy).status_code == 403
    assert nobody.put(f"/repositories/{repo}/retentionPolicy", json=policy).status_code == 404
    assert nobody.post(f"/repositories/{repo}/retentionPolicy/runs", json={}).status_code == 404
    assert writer.get("/repositoryNamespaces/admin/retentionPolicy").status_code == 403
    assert api.post(f"/repositories/{repo}/retentionPolicy/runs", json={}).status_code == 404
    bad_run = api.put(f"/repositories/{repo}/retentionPolicy", json=policy)
    assert bad_run.status_code == 200
    refused = api.post(f"/repositories/{repo}/retentionPolicy/runs", json={"dryRun": "yes"})
    assert refused.status_code == 400
    assert api.delete(f"/repositories/{repo}/retentionPolicy").status_code == 204
    assert api.get(f"/repositories/{repo}/retentionPolicy").status_code == 404


def test_a_scheduled_policy_runs_by_itself_once_per_time(tmp_path):
    """Every 2 seconds (cron with seconds), the scheduler ticking every second: runs triggered
    by the schedule, one per due time, delete what the rules say."""
    process = DTRProcess(tmp_path / "instance", env={"DTR_SCHEDULER_TICK_SECONDS": "1"})
    process.create_users()
    assert process.cli("create-repo", "admin/timed").returncode == 0
    process.start()
    try:
        admin = Api(process.url, "admin", USERS["admin"][0])
        registry = RegistryClient(process.url, "admin", USERS["admin"][0])
        for tag in ("old", "new"):
            registry.push_image("admin/timed", tag, simple_image(f"timed-{tag}"))
        body = {"rules": [{"keep": "mostRecent", "count": 1}], "schedule": "*/2 * * * * *"}
        policy = admin.put("/repositories/admin/timed/retentionPolicy", json=body)
        assert policy.status_code == 200 and policy.json()["schedule"] == "*/2 * * * * *"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = admin.get("/repositories/admin/timed/retentionPolicy/runs").json()["runs"]
            if len(runs) >= 2:
                break
            time.sleep(0.5)
        assert len(runs) >= 2, runs
        assert all(run["triggeredBy"].startswith("schedule:") for run in runs)
        assert len({run["triggeredBy"] for run in runs}) == len(runs)  # once per time
        assert runs[-1]["repositories"]["admin/timed"]["deleted"] == ["old"]
        assert tags_of(registry, "admin/timed") == ["new"]
        refused = admin.put(
            "/repositories/admin/timed/retentionPolicy",
            json={"rules": body["rules"], "schedule": "every day"},
        )
        assert refused.status_code == 400 and "schedule" in refused.text
    finally:
        process.stop()


def test_signature_tags_take_no_place_of_a_rule(api, client):
    """A cosign signature tag pushed after the image is kept anyway, and does not count
    among the `count` most recent: the image it signs stays."""
    repo = new_repo(api)
    old, image = simple_image("ret-sig-old"), simple_image("ret-sig-image")
    client.push_image(repo, "old", old)
    client.push_image(repo, "image", image)
    CosignSignature(image.digest, len(image.manifest), [(ec_key(), None)], referrer=False).push(
        client, repo
    )
    policy = {"rules": [{"keep": "mostRecent", "count": 1}]}
    assert api.put(f"/repositories/{repo}/retentionPolicy", json=policy).status_code == 200
    run = api.post(f"/repositories/{repo}/retentionPolicy/runs", json={"dryRun": True})
    assert run.json()["repositories"][repo]["deleted"] == ["old"]
