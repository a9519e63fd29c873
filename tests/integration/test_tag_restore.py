"""Restoring deleted tags through the production server: a deleted tag is listed, garbage
collection keeps its content through the restore window, restoring makes it pull again
byte-identical; past the window it is neither listed nor kept; restoring follows the push
rules (an immutable tag never moves) and access (push to restore, nothing for who may not
see the repository)."""

import uuid

from tests.integration import test_retention
from tests.integration.test_api import Api
from tests.integration.test_gc import collect, new_repo
from tests.support.images import OCI_MANIFEST, sha256, simple_image
from tests.support.server import USERS

# the retention tests' server, admin API client and registry client (module-scoped fixtures)
server, api, client = test_retention.server, test_retention.api, test_retention.client


def deleted_tags(api, repo):
    response = api.get(f"/repositories/{repo}/deletedTags")
    assert response.status_code == 200, response.text
    return response.json()["deletedTags"]


def delete_tag(api, repo, tag):
    assert api.delete(f"/repositories/{repo}/tags/{tag}").status_code == 204


def manifest_status(client, repo, reference):
    return client.get_manifest(repo, reference, accept=OCI_MANIFEST).status_code


def test_a_deleted_tag_survives_gc_and_comes_back_byte_identical(api, client):
    repo = new_repo(api)
    image = simple_image(f"restore-{uuid.uuid4().hex[:6]}")
    client.push_image(repo, "v1", image)
    delete_tag(api, repo, "v1")
    assert manifest_status(client, repo, "v1") == 404
    (listed,) = deleted_tags(api, repo)
    assert (listed["tag"], listed["digest"], listed["deletedBy"]) == ("v1", image.digest, "admin")
    collect(api)
    assert manifest_status(client, repo, image.digest) == 200  # kept for the window
    restored = api.post(f"/repositories/{repo}/deletedTags/{listed['id']}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json() == {"tag": "v1", "digest": image.digest}
    pulled = client.get_manifest(repo, "v1", accept=OCI_MANIFEST)
    assert pulled.status_code == 200 and pulled.content == image.manifest
    for blob in image.blobs:
        got = client.request("GET", f"/v2/{repo}/blobs/{sha256(blob)}")
        assert got.status_code == 200 and got.content == blob
    assert deleted_tags(api, repo) == []
    again = api.post(f"/repositories/{repo}/deletedTags/{listed['id']}/restore")
    assert again.status_code == 404
    actions = [e["action"] for e in api.get("/admin/audit?limit=10").json()["events"]]
    assert "tag.create" in actions and "tag.delete" in actions


def test_past_the_window_a_deleted_tag_is_gone_and_collected(server, api, client):
    repo = new_repo(api)
    image = simple_image(f"expired-{uuid.uuid4().hex[:6]}")
    client.push_image(repo, "old", image)
    delete_tag(api, repo, "old")
    (listed,) = deleted_tags(api, repo)
    server.sql(
        "UPDATE deleted_tags SET deleted_at = ? WHERE id = ?",
        ("2020-01-01 00:00:00", listed["id"]),
    )
    assert deleted_tags(api, repo) == []
    assert api.post(f"/repositories/{repo}/deletedTags/{listed['id']}/restore").status_code == 404
    collect(api)
    assert manifest_status(client, repo, image.digest) == 404


def test_restoring_follows_the_push_rules(server, api, client):
    repo = new_repo(api)
    first, second = simple_image("restore-first"), simple_image("restore-second")
    client.push_image(repo, "v1", first)
    delete_tag(api, repo, "v1")
    client.push_image(repo, "v1", second)  # the name points elsewhere now
    (listed,) = deleted_tags(api, repo)
    rule = api.post(f"/repositories/{repo}/immutableTagRules", json={"pattern": "v*"})
    assert rule.status_code == 201
    refused = api.post(f"/repositories/{repo}/deletedTags/{listed['id']}/restore")
    assert refused.status_code == 403, refused.text
    assert "immutable" in refused.json()["errors"][0]["message"]
    assert client.get_manifest(repo, "v1", accept=OCI_MANIFEST).content == second.manifest
    unrule = api.delete(f"/repositories/{repo}/immutableTagRules/{rule.json()['id']}")
    assert unrule.status_code == 204
    moved = api.post(f"/repositories/{repo}/deletedTags/{listed['id']}/restore")
    assert moved.status_code == 200, moved.text
    assert client.get_manifest(repo, "v1", accept=OCI_MANIFEST).content == first.manifest
    reader, nobody = (Api(server.url, user, USERS[user][0]) for user in ("reader", "nobody"))
    delete_tag(api, repo, "v1")
    again = deleted_tags(api, repo)[0]  # newest first
    assert again["digest"] == first.digest
    assert deleted_tags(reader, repo)[0] == again  # may see it
    path = f"/repositories/{repo}/deletedTags/{again['id']}/restore"
    assert reader.post(path).status_code == 403  # may not push
    assert nobody.get(f"/repositories/{repo}/deletedTags").status_code == 404
    assert nobody.post(path).status_code == 404
    for odd in ("abc", "-1", "99999999999", "1e3"):
        assert api.post(f"/repositories/{repo}/deletedTags/{odd}/restore").status_code == 404
