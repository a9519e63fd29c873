"""Soft deletes through every path (registry DELETE by tag and by digest, the API's tag and
manifest deletes, repository delete) against a running DTR: what goes, what stays until
garbage collection, who may, and the audit log."""

import itertools
import uuid

import pytest

from tests.integration.test_api import Api, expect_error, ok
from tests.support.client import RegistryClient
from tests.support.images import sha256, simple_image

RUN = uuid.uuid4().hex[:6]
_names = itertools.count()


@pytest.fixture
def pushed(api, registry):
    """A private repository of admin with one image under tags v1 and latest."""
    name = f"del{RUN}-{next(_names)}"
    ok(api["admin"].post("/repositories/admin", json={"name": name}), 201)
    full = f"admin/{name}"
    image = simple_image(f"deletion-{name}")
    registry["admin"].push_image(full, "v1", image)
    ok_push = registry["admin"].push_manifest(full, "latest", image.manifest, image.media_type)
    assert ok_push.status_code == 201
    return full, image


def tags_of(api, full):
    return sorted(t["name"] for t in ok(api.get(f"/repositories/{full}/tags"))["tags"])


def blob_stored(dtr, digest):
    algorithm, hexdigest = digest.split(":")
    return (dtr.instance / "storage" / "blobs" / algorithm / hexdigest[:2] / hexdigest).is_file()


def audit_events(api, action):
    events = ok(api["admin"].get("/admin/audit", params={"limit": 200}))["events"]
    return [e for e in events if e["action"] == action]


def blobs_remain(dtr, registry, full, image):
    for blob in image.blobs:
        assert blob_stored(dtr, _digest(blob))
    layer = registry["admin"].request("GET", f"/v2/{full}/blobs/{_digest(image.layers[0])}")
    assert layer.status_code == 200 and layer.content == image.layers[0]


def _digest(data):
    return sha256(data)


# --- the registry's DELETE ---------------------------------------------------------------------


def test_registry_delete_by_tag_removes_only_that_tag(dtr, api, registry, pushed):
    full, image = pushed
    response = registry["writer"].request("DELETE", f"/v2/{full}/manifests/v1")
    assert response.status_code == 202
    assert tags_of(api["admin"], full) == ["latest"]
    assert registry["admin"].get_manifest(full, "v1").status_code == 404
    assert registry["admin"].get_manifest(full, image.digest).content == image.manifest
    blobs_remain(dtr, registry, full, image)
    event = audit_events(api, "tag.delete")[0]
    assert (event["actor"], event["target"]) == ("writer", f"{full}:v1")
    assert event["detail"] == {"digest": image.digest}
    assert event["address"] == "127.0.0.1"


def test_registry_delete_by_digest_removes_the_manifest_and_its_tags(dtr, api, registry, pushed):
    full, image = pushed
    response = registry["writer"].request("DELETE", f"/v2/{full}/manifests/{image.digest}")
    assert response.status_code == 202
    assert tags_of(api["admin"], full) == []
    for reference in ("v1", "latest", image.digest):
        missing = registry["admin"].get_manifest(full, reference)
        assert missing.status_code == 404
        assert missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    blobs_remain(dtr, registry, full, image)
    event = audit_events(api, "manifest.delete")[0]
    assert (event["actor"], event["target"]) == ("writer", f"{full}@{image.digest}")
    assert event["detail"] == {"tags": ["latest", "v1"]}
    again = registry["writer"].request("DELETE", f"/v2/{full}/manifests/{image.digest}")
    assert again.status_code == 404


def test_registry_delete_permissions(api, registry, pushed):
    full, image = pushed
    refused = registry["reader"].request("DELETE", f"/v2/{full}/manifests/v1")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "DENIED"
    unseen = registry["nobody"].request("DELETE", f"/v2/{full}/manifests/v1")
    assert unseen.status_code == 401  # a private repository they may not see
    anonymous = RegistryClient(registry["admin"].url).request(
        "DELETE", f"/v2/{full}/manifests/{image.digest}"
    )
    assert anonymous.status_code == 401
    assert tags_of(api["admin"], full) == ["latest", "v1"]
    assert registry["admin"].get_manifest(full, image.digest).status_code == 200


def test_registry_blob_delete_unlinks_and_is_audited(dtr, api, registry, pushed):
    full, image = pushed
    layer = _digest(image.layers[0])
    refused = registry["reader"].request("DELETE", f"/v2/{full}/blobs/{layer}")
    assert refused.status_code == 403
    response = registry["writer"].request("DELETE", f"/v2/{full}/blobs/{layer}")
    assert response.status_code == 202
    assert registry["admin"].request("HEAD", f"/v2/{full}/blobs/{layer}").status_code == 404
    assert blob_stored(dtr, layer)  # the bytes wait for garbage collection
    event = audit_events(api, "blob.delete")[0]
    assert (event["actor"], event["target"]) == ("writer", f"{full}@{layer}")
    again = registry["writer"].request("DELETE", f"/v2/{full}/blobs/{layer}")
    assert again.status_code == 404 and again.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


# --- the API's tag and manifest deletes --------------------------------------------------------


def test_api_delete_tag(dtr, api, registry, pushed):
    full, image = pushed
    assert api["writer"].delete(f"/repositories/{full}/tags/latest").status_code == 204
    assert tags_of(api["admin"], full) == ["v1"]
    assert registry["admin"].get_manifest(full, "latest").status_code == 404
    assert registry["admin"].get_manifest(full, "v1").content == image.manifest
    blobs_remain(dtr, registry, full, image)
    event = audit_events(api, "tag.delete")[0]
    assert (event["actor"], event["target"]) == ("writer", f"{full}:latest")
    expect_error(api["writer"].delete(f"/repositories/{full}/tags/latest"), 404, "NO_SUCH_RESOURCE")
    expect_error(api["writer"].delete(f"/repositories/{full}/tags/bad%20tag"), 400, "INVALID_NAME")


def test_api_delete_manifest_by_digest_and_by_tag(dtr, api, registry, pushed):
    full, image = pushed
    assert api["admin"].delete(f"/repositories/{full}/manifests/v1").status_code == 204
    assert tags_of(api["admin"], full) == ["latest"]
    assert api["admin"].delete(f"/repositories/{full}/manifests/{image.digest}").status_code == 204
    assert tags_of(api["admin"], full) == []
    assert registry["admin"].get_manifest(full, image.digest).status_code == 404
    blobs_remain(dtr, registry, full, image)
    event = audit_events(api, "manifest.delete")[0]
    assert (event["actor"], event["target"]) == ("admin", f"{full}@{image.digest}")
    assert event["detail"] == {"tags": ["latest"]}
    missing = api["admin"].delete(f"/repositories/{full}/manifests/{image.digest}")
    expect_error(missing, 404, "NO_SUCH_RESOURCE")
    bad = api["admin"].delete(f"/repositories/{full}/manifests/sha256:abc")
    expect_error(bad, 400, "INVALID_INPUT")


def test_api_delete_permissions(dtr, api, pushed):
    full, image = pushed
    before = len(audit_events(api, "tag.delete"))
    for path in (f"/repositories/{full}/tags/v1", f"/repositories/{full}/manifests/{image.digest}"):
        expect_error(api["reader"].delete(path), 403, "NOT_AUTHORIZED")  # read-only
        expect_error(api["nobody"].delete(path), 404, "NO_SUCH_RESOURCE")  # private: unseen
        expect_error(Api(dtr.url).delete(path), 404, "NO_SUCH_RESOURCE")  # anonymous
        expect_error(Api(dtr.url, "writer", "wrong").delete(path), 401, "NOT_AUTHENTICATED")
    expect_error(
        api["nobody"].delete("/repositories/admin/nothing-here/tags/v1"), 404, "NO_SUCH_RESOURCE"
    )
    assert tags_of(api["admin"], full) == ["latest", "v1"]
    assert len(audit_events(api, "tag.delete")) == before  # refusals change nothing


def test_public_repository_is_seen_but_not_deleted_by_read_only(api, registry):
    name = f"delpub{RUN}-{next(_names)}"
    ok(api["admin"].post("/repositories/admin", json={"name": name, "visibility": "public"}), 201)
    full = f"admin/{name}"
    registry["admin"].push_image(full, "v1", simple_image(f"public-{name}"))
    expect_error(api["nobody"].delete(f"/repositories/{full}/tags/v1"), 403, "NOT_AUTHORIZED")
    anonymous = Api(api["admin"].url.removesuffix("/api/v0"))
    expect_error(anonymous.delete(f"/repositories/{full}/tags/v1"), 401, "NOT_AUTHENTICATED")
    assert tags_of(api["admin"], full) == ["v1"]


# --- repository delete ---------------------------------------------------------------------------


def test_repository_delete_leaves_blobs_for_garbage_collection(dtr, api, registry, pushed):
    full, image = pushed
    expect_error(api["writer"].delete(f"/repositories/{full}"), 403, "NOT_AUTHORIZED")
    expect_error(api["nobody"].delete(f"/repositories/{full}"), 404, "NO_SUCH_RESOURCE")
    assert api["admin"].delete(f"/repositories/{full}").status_code == 204
    assert registry["admin"].get_manifest(full, "v1").status_code == 404
    for blob in image.blobs:
        assert blob_stored(dtr, _digest(blob))  # until garbage collection
    event = audit_events(api, "repository.delete")[0]
    assert (event["actor"], event["target"]) == ("admin", full)
