"""The Notary-compatible trust API against a running DTR: keys, updates, reads by name,
checksum and version, refusals that store nothing, who may do what, and trust data going
with its repository. Metadata is built and signed by the test (tests/support/tuf_client)."""

import base64
import hashlib
import json

import pytest
import requests

from dtr.trust.keys import load_public_key
from dtr.trust.metadata import canonical_json
from tests.integration.test_api import Api
from tests.support.client import RegistryClient
from tests.support.server import USERS
from tests.support.tuf_client import Key, TrustClient

MANIFEST = b'{"schemaVersion": 2, "marker": "trust"}'


def trust_path(dtr, repo, file_name=""):
    return f"/v2/{dtr.host}/{repo}/_trust/tuf/{file_name}"


def basic(user):
    return (user, USERS[user][0])


def post_update(client, dtr, repo, files: dict):
    """POST a multipart update as the notary client does (one part per role)."""
    parts = [("files", (role, data, "application/octet-stream")) for role, data in files.items()]
    return client.request("POST", trust_path(dtr, repo), files=parts)


def server_key(client, dtr, repo, role):
    response = client.request("GET", trust_path(dtr, repo, f"{role}.key"))
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response):
    return response.json()["errors"][0]


@pytest.fixture
def writer(client_for):
    return client_for("writer")


@pytest.fixture
def published(dtr, repo, writer):
    """A repository with trust data (root, targets with tag v1), as docker publishes it."""
    gun = f"{dtr.host}/{repo}"
    client = TrustClient(
        gun, server_key(writer, dtr, repo, "timestamp"), server_key(writer, dtr, repo, "snapshot")
    )
    root, targets = client.root(), client.targets(tags={"v1": MANIFEST})
    response = post_update(writer, dtr, repo, {"root": root, "targets": targets})
    assert response.status_code == 200, response.text
    return client, root, targets


def test_server_keys_are_created_once(dtr, repo, writer):
    first = server_key(writer, dtr, repo, "timestamp")
    assert first["keytype"] == "ecdsa" and first["keyval"]["private"] is None
    load_public_key(first)
    assert server_key(writer, dtr, repo, "timestamp") == first
    assert server_key(writer, dtr, repo, "snapshot") != first
    response = writer.request("GET", trust_path(dtr, repo, "root.key"))
    assert response.status_code == 400
    assert error_of(response)["code"] == "INVALID_ROLE"


def test_published_metadata_reads_back(dtr, repo, writer, published, client_for):
    client, root, targets = published
    reader = client_for("reader")  # reading needs pull only
    for path, expected in [
        ("root.json", root),
        ("targets.json", targets),
        (f"targets.{hashlib.sha256(targets).hexdigest()}.json", targets),
        ("1.root.json", root),
    ]:
        response = reader.request("GET", trust_path(dtr, repo, path))
        assert response.status_code == 200, (path, response.text)
        assert response.content == expected
        assert response.headers["Content-Type"] == "application/json"

    timestamp = reader.request("GET", trust_path(dtr, repo, "timestamp.json"))
    assert timestamp.status_code == 200
    document = json.loads(timestamp.content)
    key = load_public_key(client.timestamp_key.public_object)
    assert key.verifies(document["signatures"][0], canonical_json(document["signed"]))
    entry = document["signed"]["meta"]["snapshot"]
    checksum = base64.b64decode(entry["hashes"]["sha256"]).hex()
    snapshot = reader.request("GET", trust_path(dtr, repo, f"snapshot.{checksum}.json"))
    assert snapshot.status_code == 200
    assert hashlib.sha256(snapshot.content).hexdigest() == checksum
    assert reader.request("GET", trust_path(dtr, repo, "snapshot.json")).content == snapshot.content
    meta = json.loads(snapshot.content)["signed"]["meta"]
    assert base64.b64decode(meta["targets"]["hashes"]["sha256"]) == hashlib.sha256(targets).digest()

    for missing in ("targets/releases.json", f"root.{'0' * 64}.json", "7.root.json", "nope.json"):
        response = reader.request("GET", trust_path(dtr, repo, missing))
        assert response.status_code == 404, missing
        assert error_of(response)["code"] == "METADATA_NOT_FOUND"


def test_a_second_publish_with_a_delegation(dtr, repo, writer, published):
    client, _, _ = published
    alice = Key()
    targets = client.targets(version=2, delegations=[("targets/releases", [alice], [""])])
    releases = client.targets(tags={"v2": MANIFEST}, signers=[alice])
    response = post_update(writer, dtr, repo, {"targets": targets, "targets/releases": releases})
    assert response.status_code == 200, response.text
    got = writer.request("GET", trust_path(dtr, repo, "targets/releases.json"))
    assert got.content == releases
    timestamp = json.loads(writer.request("GET", trust_path(dtr, repo, "timestamp.json")).content)
    assert timestamp["signed"]["version"] == 2


def current(client, dtr, repo):
    return {
        name: client.request("GET", trust_path(dtr, repo, name)).content
        for name in ("root.json", "targets.json", "timestamp.json")
    }


def test_refused_updates_store_nothing(dtr, repo, writer, published):
    client, _, _ = published
    before = current(writer, dtr, repo)
    other_gun = Key(certificate_for=f"{dtr.host}/admin/someone-else")
    cases = [
        ({"targets": client.targets(version=2, signers=[Key()])}, "0 valid signature(s)"),
        ({"targets": client.targets(version=1, tags={})}, "version 1 is not newer"),
        ({"targets": client.targets(version=2, expires_days=-1)}, "targets: expired"),
        (
            {
                "root": client.root(
                    version=2, root_keys=[other_gun], signers=[client.root_key, other_gun]
                )
            },
            "the root certificate is for",
        ),
        # one bad role spoils the whole update
        (
            {"targets": client.targets(version=2), "targets/x": client.targets(signers=[Key()])},
            "targets/x: not delegated by targets",
        ),
        ({"timestamp": before["timestamp.json"]}, "the server signs the timestamp"),
    ]
    for files, reason in cases:
        response = post_update(writer, dtr, repo, files)
        assert response.status_code == 400, (reason, response.text)
        error = error_of(response)
        assert error["code"] == "INVALID_UPDATE"
        assert reason in error["message"], error["message"]
        assert current(writer, dtr, repo) == before


def test_wrong_snapshot_hash_is_refused(dtr, repo, writer):
    gun = f"{dtr.host}/{repo}"
    client = TrustClient(gun, server_key(writer, dtr, repo, "timestamp"))  # own snapshot key
    root, targets = client.root(), client.targets(tags={"v1": MANIFEST})
    wrong = client.snapshot({"root": root, "targets": client.targets(tags={})})
    response = post_update(writer, dtr, repo, {"root": root, "targets": targets, "snapshot": wrong})
    assert response.status_code == 400
    assert "its hash of targets does not match" in error_of(response)["message"]
    assert writer.request("GET", trust_path(dtr, repo, "root.json")).status_code == 404
    right = client.snapshot({"root": root, "targets": targets})
    response = post_update(writer, dtr, repo, {"root": root, "targets": targets, "snapshot": right})
    assert response.status_code == 200, response.text
    assert writer.request("GET", trust_path(dtr, repo, "snapshot.json")).content == right


def test_malformed_uploads(dtr, repo, writer, published):
    url = trust_path(dtr, repo)
    assert writer.request("POST", url, data=b"not multipart").status_code == 400
    bad_role = post_update(writer, dtr, repo, {"../etc": b"{}"})
    assert bad_role.status_code == 400
    assert error_of(bad_role)["code"] == "INVALID_ROLE"
    not_json = post_update(writer, dtr, repo, {"targets": b"\xff\xfe"})
    assert not_json.status_code == 400
    assert "targets: not JSON" in error_of(not_json)["message"]


def test_who_may_read_write_and_delete(dtr, repo, published, client_for):
    url = dtr.url + trust_path(dtr, repo, "root.json")
    anonymous = requests.get(url, timeout=10)
    assert anonymous.status_code == 401
    challenge = anonymous.headers["WWW-Authenticate"]
    assert f'scope="repository:{dtr.host}/{repo}:pull"' in challenge
    nobody = requests.get(url, auth=basic("nobody"), timeout=10)
    assert nobody.status_code == 404  # a private repository is invisible
    assert error_of(nobody)["code"] == "NAME_UNKNOWN"

    reader = client_for("reader")
    key = reader.request("GET", trust_path(dtr, repo, "timestamp.key"))
    assert key.status_code == 403  # creating a key is a write
    assert post_update(reader, dtr, repo, {"targets": b"{}"}).status_code == 403

    writer = client_for("writer")
    assert writer.request("DELETE", trust_path(dtr, repo)).status_code == 403
    admin = client_for("admin")
    assert admin.request("DELETE", trust_path(dtr, repo)).status_code == 200
    assert admin.request("GET", trust_path(dtr, repo, "root.json")).status_code == 404


def test_bearer_token_for_the_gun(dtr, repo, published):
    """What the docker CLI's notary client does: a token for scope repository:<GUN>."""
    gun = f"{dtr.host}/{repo}"
    token = requests.get(
        f"{dtr.url}/auth/token",
        params={"service": "x", "scope": f"repository:{gun}:push,pull"},
        auth=basic("writer"),
        timeout=10,
    ).json()
    assert token["scope"] == f"repository:{gun}:pull,push"
    headers = {"Authorization": f"Bearer {token['token']}"}
    response = requests.get(dtr.url + trust_path(dtr, repo, "root.json"), headers=headers)
    assert response.status_code == 200
    # a token for the GUN grants nothing on another repository, nor for another host
    other = requests.get(
        f"{dtr.url}/auth/token",
        params={"scope": f"elsewhere.example/{repo}:pull"},
        auth=basic("writer"),
        timeout=10,
    ).json()
    assert other["scope"] == ""


def test_gun_of_another_host_is_unknown(dtr, repo):
    admin = RegistryClient(dtr.url, "admin", USERS["admin"][0])
    response = admin.request("GET", f"/v2/elsewhere.example/{repo}/_trust/tuf/root.json")
    assert response.status_code == 404
    assert "not kept here" in error_of(response)["message"]


def test_deleting_the_repository_deletes_its_trust_data(dtr, repo, published, writer):
    old_key = server_key(writer, dtr, repo, "timestamp")
    namespace, name = repo.split("/")
    response = Api(dtr.url, "admin", USERS["admin"][0]).delete(f"/repositories/{namespace}/{name}")
    assert response.status_code in (200, 204), response.text
    assert dtr.cli("create-repo", repo).returncode == 0
    assert writer.request("GET", trust_path(dtr, repo, "root.json")).status_code == 404
    assert server_key(writer, dtr, repo, "timestamp") != old_key
