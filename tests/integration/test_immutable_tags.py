"""Immutable tags against a running DTR: rules of a repository and of a namespace through the
API, pushes and deletes refused for everyone (administrators too) with DENIED naming the rule,
the same manifest again and new tags allowed, hostile rule input, and the push events the audit
log records (manifest.push, tag.create, tag.move)."""

import itertools
import uuid

import pytest
import requests

from tests.integration.test_api import expect_error, ok
from tests.support.images import simple_image

RUN = uuid.uuid4().hex[:6]
_names = itertools.count()


@pytest.fixture
def repo(api, registry):
    """A private repository of admin holding one image under v1."""
    name = f"imm{RUN}-{next(_names)}"
    ok(api["admin"].post("/repositories/admin", json={"name": name}), 201)
    full = f"admin/{name}"
    image = simple_image(f"immutable-{name}")
    registry["admin"].push_image(full, "v1", image)
    return full, image


def push(registry, full, tag, image):
    for blob in image.blobs:
        registry.push_blob(full, blob)
    return registry.push_manifest(full, tag, image.manifest, image.media_type)


def denied(response, pattern):
    assert response.status_code == 403, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "DENIED", error
    assert "immutable" in error["message"] and repr(pattern) in error["message"], error
    return error["message"]


def digest_of(registry, full, tag):
    return registry.get_manifest(full, tag).headers["Docker-Content-Digest"]


def audit(api, action):
    events = ok(api["admin"].get("/admin/audit", params={"limit": 200}))["events"]
    return [event for event in events if event["action"] == action]


def test_an_immutable_tag_is_neither_moved_nor_deleted_by_anyone(api, registry, repo):
    full, image = repo
    rules = f"/repositories/{full}/immutableTagRules"
    rule = ok(api["admin"].post(rules, json={"pattern": "v*"}), 201)
    assert (rule["pattern"], rule["scope"], rule["createdBy"]) == ("v*", "repository", "admin")
    other = simple_image(f"other-{full}")
    for who in ("admin", "writer"):
        denied(push(registry[who], full, "v1", other), "v*")
    assert digest_of(registry["admin"], full, "v1") == image.digest
    again = registry["writer"].push_manifest(full, "v1", image.manifest, image.media_type)
    assert again.status_code == 201  # the same manifest: nothing moves
    assert push(registry["writer"], full, "v2", other).status_code == 201  # created: fine
    denied(registry["admin"].push_manifest(full, "v2", image.manifest, image.media_type), "v*")
    assert push(registry["writer"], full, "latest", other).status_code == 201
    assert (
        registry["writer"]
        .push_manifest(full, "latest", image.manifest, image.media_type)
        .status_code
        == 201
    )  # not covered: moves

    denied(registry["admin"].request("DELETE", f"/v2/{full}/manifests/v1"), "v*")
    by_digest = registry["admin"].request("DELETE", f"/v2/{full}/manifests/{image.digest}")
    denied(by_digest, "v*")  # it would take v1 (and latest) with it
    refused = api["admin"].delete(f"/repositories/{full}/tags/v1")
    assert refused.status_code == 403 and "'v*'" in refused.json()["errors"][0]["message"]
    tags = sorted(t["name"] for t in ok(api["admin"].get(f"/repositories/{full}/tags"))["tags"])
    assert tags == ["latest", "v1", "v2"]

    assert api["admin"].delete(f"{rules}/{rule['id']}").status_code == 204
    assert push(registry["writer"], full, "v1", other).status_code == 201
    assert registry["writer"].request("DELETE", f"/v2/{full}/manifests/v2").status_code == 202
    added, removed = audit(api, "immutableTagRule.add"), audit(api, "immutableTagRule.delete")
    assert (added[0]["actor"], added[0]["target"], added[0]["detail"]) == (
        "admin",
        full,
        {"pattern": "v*"},
    )
    assert (removed[0]["target"], removed[0]["detail"]) == (full, {"pattern": "v*"})


def test_a_namespace_rule_covers_every_repository_of_the_namespace(api, registry):
    short = f"ns{RUN}-{next(_names)}"
    ok(api["writer"].post("/repositories/writer", json={"name": short}), 201)
    name, rules = f"writer/{short}", "/repositoryNamespaces/writer/immutableTagRules"
    rule = ok(api["writer"].post(rules, json={"pattern": f"release-{RUN}-[0-9]*"}), 201)
    assert rule["scope"] == "namespace"
    first, second = simple_image(f"ns-a-{name}"), simple_image(f"ns-b-{name}")
    registry["writer"].push_image(name, f"release-{RUN}-1", first)
    message = denied(push(registry["admin"], name, f"release-{RUN}-1", second), rule["pattern"])
    assert "its namespace" in message
    assert push(registry["writer"], name, f"release-{RUN}-x", second).status_code == 201
    listed = ok(api["writer"].get(f"/repositories/{name}/immutableTagRules"))
    assert [(r["pattern"], r["scope"]) for r in listed["immutableTagRules"]] == [
        (rule["pattern"], "namespace")
    ]
    expect_error(api["nobody"].post(rules, json={"pattern": "x*"}), 403, "NOT_AUTHORIZED")
    expect_error(api["nobody"].delete(f"{rules}/{rule['id']}"), 403, "NOT_AUTHORIZED")
    # a namespace rule is not the repository's to delete
    wrong = api["writer"].delete(f"/repositories/{name}/immutableTagRules/{rule['id']}")
    expect_error(wrong, 404, "NO_SUCH_RESOURCE")
    assert api["writer"].delete(f"{rules}/{rule['id']}").status_code == 204
    assert push(registry["admin"], name, f"release-{RUN}-1", second).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"pattern": ""},
        {"pattern": "a b"},
        {"pattern": "v*\n"},
        {"pattern": "x" * 129},
        {"pattern": "v/*"},
        {"pattern": 5},
        {"pattern": None},
        {"pattern": ["v*"]},
        {"pattern": {"$ne": ""}},
    ],
)
def test_a_bad_pattern_is_refused_and_changes_nothing(api, repo, body):
    full, _ = repo
    rules = f"/repositories/{full}/immutableTagRules"
    response = api["admin"].post(rules, json=body)
    expect_error(response, 400, "INVALID_INPUT", field="pattern")
    assert ok(api["admin"].get(rules))["immutableTagRules"] == []


def test_rule_requests_from_the_wrong_callers_or_with_hostile_bodies(dtr, api, repo):
    full, _ = repo
    rules = f"/repositories/{full}/immutableTagRules"
    expect_error(api["writer"].post(rules, json={"pattern": "v*"}), 403, "NOT_AUTHORIZED")
    expect_error(api["nobody"].post(rules, json={"pattern": "v*"}), 404, "NO_SUCH_RESOURCE")
    expect_error(api["nobody"].get(rules), 404, "NO_SUCH_RESOURCE")
    anonymous = requests.post(f"{dtr.url}/api/v0{rules}", json={"pattern": "v*"})
    assert anonymous.status_code in (401, 404)
    headers = {"Content-Type": "application/json"}
    for data in (b"[" * 100_000 + b"]" * 100_000, b'{"pattern": "' + b"v" * 5_000_000 + b'"}'):
        response = api["admin"].post(rules, data=data, headers=headers)
        assert response.status_code == 400, response.text
    expect_error(api["admin"].post(rules, data="v*", headers={}), 400, "INVALID_INPUT")
    rule = ok(api["admin"].post(rules, json={"pattern": "v*"}), 201)
    expect_error(api["admin"].post(rules, json={"pattern": "v*"}), 409, "ALREADY_EXISTS")
    for wrong in ("abc", "0", "99999999999999999999", str(rule["id"] + 10_000)):
        expect_error(api["admin"].delete(f"{rules}/{wrong}"), 404, "NO_SUCH_RESOURCE")
    expect_error(api["writer"].delete(f"{rules}/{rule['id']}"), 403, "NOT_AUTHORIZED")
    assert [r["id"] for r in ok(api["reader"].get(rules))["immutableTagRules"]] == [rule["id"]]


def test_pushes_are_published_and_the_audit_log_records_them(api, registry, repo):
    full, image = repo
    pushed = [e for e in audit(api, "manifest.push") if e["target"] == f"{full}@{image.digest}"]
    assert len(pushed) == 1 and pushed[0]["actor"] == "admin"
    assert pushed[0]["detail"] == {"mediaType": image.media_type, "size": len(image.manifest)}
    created = [e for e in audit(api, "tag.create") if e["target"] == f"{full}:v1"]
    assert len(created) == 1 and created[0]["detail"]["digest"] == image.digest
    again = registry["writer"].push_manifest(full, "v1", image.manifest, image.media_type)
    assert again.status_code == 201
    assert len([e for e in audit(api, "tag.create") if e["target"] == f"{full}:v1"]) == 1
    other = simple_image(f"moved-{full}")
    assert push(registry["writer"], full, "v1", other).status_code == 201
    moved = [e for e in audit(api, "tag.move") if e["target"] == f"{full}:v1"]
    assert len(moved) == 1 and moved[0]["actor"] == "writer"
    assert moved[0]["detail"]["digest"] == other.digest
    assert moved[0]["detail"]["from"] == image.digest
