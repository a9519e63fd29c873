"""A manifest PUT reads and checks everything without the writer lock, then writes in one short
transaction; the same manifest pushed again under a new tag writes the tag and the change
signal, nothing else (the registry view, through the test client, in a temporary instance)."""

import base64
import hashlib
import json
import threading

import pytest
from flask_migrate import upgrade
from sqlalchemy import event

from dtr import create_app
from dtr.database import db, transactions_are_read_only
from dtr.services.accounts import create_user
from dtr.services.repositories import create_repository
from tests.integration.web_support import reset_process_state

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
BASIC = "Basic " + base64.b64encode(b"pusher:pusher-password-1").decode()


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One application for the module (process caches outlive an application)."""
    return pusher_client(tmp_path_factory.mktemp("pushes") / "instance")


def pusher_client(instance):
    """A test client of a new instance where `pusher` (an admin) has pusher/pushes."""
    reset_process_state()
    app = create_app(instance)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        create_user("pusher", "pusher-password-1", "admin")
        create_repository(None, "pusher/pushes")
    return app.test_client()


def put(client, path, body, **headers):
    return client.put(
        f"/v2/pusher/pushes/{path}", data=body, headers={"Authorization": BASIC, **headers}
    )


def push_blob(client, data):
    response = client.post(
        f"/v2/pusher/pushes/blobs/uploads/?digest={digest_of(data)}",
        data=data,
        headers={"Authorization": BASIC, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.data
    return {"mediaType": "application/octet-stream", "digest": digest_of(data), "size": len(data)}


def manifest(config, layer):
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
    ).encode()


class Writes:
    """The statements this thread runs in write transactions, and how many it begins."""

    def __init__(self, engine):
        self.engine, self.thread = engine, threading.get_ident()
        self.transactions, self.statements, self._writing = 0, [], {}

    def _begin(self, connection):
        if threading.get_ident() == self.thread:
            self._writing[id(connection)] = not transactions_are_read_only()
            self.transactions += self._writing[id(connection)]

    def _execute(self, connection, _cursor, statement, *_args):
        if threading.get_ident() == self.thread and self._writing.get(id(connection)):
            self.statements.append(" ".join(statement.split()[:3]))

    def __enter__(self):
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "before_cursor_execute", self._execute)
        return self

    def __exit__(self, *_exc):
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "before_cursor_execute", self._execute)


def writes_of(client):
    with client.application.app_context():
        return Writes(db.engine)


def test_a_new_tag_for_a_stored_manifest_writes_the_tag_and_the_signal(client):
    body = manifest(push_blob(client, b'{"os":"linux"}'), push_blob(client, b"a layer"))
    assert put(client, "manifests/v1", body, **{"Content-Type": OCI_MANIFEST}).status_code == 201
    with writes_of(client) as writes:
        response = put(client, "manifests/v2", body, **{"Content-Type": OCI_MANIFEST})
    assert response.status_code == 201, response.data
    assert writes.transactions == 1
    assert writes.statements == [
        "SELECT manifests.id FROM",  # still there (garbage collection)
        "SELECT tags.manifest_id, manifests.digest",  # created or moved (events, immutability)
        "INSERT INTO tags",
        "INSERT INTO audit_events",  # the tag.create event's recorders: the audit log's
        "SELECT webhooks.id, webhooks.events",  # and the webhooks' (none here)
        "INSERT INTO cache_generations",
    ]
    tags = client.get("/v2/pusher/pushes/tags/list", headers={"Authorization": BASIC})
    assert {"v1", "v2"} <= set(tags.json["tags"])


def test_the_same_tag_and_manifest_again_only_renews_the_tag(client):
    body = manifest(push_blob(client, b'{"os":"linux","v":3}'), push_blob(client, b"same"))
    assert put(client, "manifests/same", body, **{"Content-Type": OCI_MANIFEST}).status_code == 201
    with writes_of(client) as writes:
        response = put(client, "manifests/same", body, **{"Content-Type": OCI_MANIFEST})
    assert response.status_code == 201, response.data
    assert writes.statements == [
        "SELECT manifests.id FROM",
        "SELECT tags.manifest_id, manifests.digest",
        "INSERT INTO tags",  # who pushed it and when
        "INSERT INTO cache_generations",
    ]


def test_a_new_manifest_is_checked_before_and_in_its_one_write_transaction(client):
    body = manifest(push_blob(client, b'{"os":"plan9"}'), push_blob(client, b"another layer"))
    with writes_of(client) as writes:
        response = put(client, "manifests/new", body, **{"Content-Type": OCI_MANIFEST})
    assert response.status_code == 201, response.data
    assert writes.transactions == 1
    assert writes.statements[:2] == ["SELECT repository_blobs.digest FROM", "INSERT INTO manifests"]


def test_a_manifest_naming_a_missing_blob_fails_without_the_writer_lock(client):
    missing = {"mediaType": "application/octet-stream", "digest": digest_of(b"never"), "size": 5}
    body = manifest(push_blob(client, b'{"os":"haiku"}'), missing)
    with writes_of(client) as writes:
        response = put(client, "manifests/broken", body, **{"Content-Type": OCI_MANIFEST})
    assert response.status_code == 400
    assert response.json["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert writes.transactions == 0


def test_a_tag_pushed_again_moves_to_the_new_manifest(client):
    config = push_blob(client, b'{"os":"linux","v":1}')
    first = manifest(config, push_blob(client, b"first layer"))
    second = manifest(config, push_blob(client, b"second layer"))
    for body in (first, second):
        assert (
            put(client, "manifests/latest", body, **{"Content-Type": OCI_MANIFEST}).status_code
            == 201
        )
    served = client.get(
        "/v2/pusher/pushes/manifests/latest",
        headers={"Authorization": BASIC, "Accept": OCI_MANIFEST},
    )
    assert served.headers["Docker-Content-Digest"] == digest_of(second)


def test_a_stored_manifest_whose_blob_was_unlinked_is_refused_under_a_new_tag(client):
    layer = push_blob(client, b"a layer taken away")
    body = manifest(push_blob(client, b'{"os":"linux","v":2}'), layer)
    assert put(client, "manifests/kept", body, **{"Content-Type": OCI_MANIFEST}).status_code == 201
    unlinked = client.delete(
        f"/v2/pusher/pushes/blobs/{layer['digest']}", headers={"Authorization": BASIC}
    )
    assert unlinked.status_code == 202
    response = put(client, "manifests/again", body, **{"Content-Type": OCI_MANIFEST})
    assert response.status_code == 400
    assert response.json["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"


def test_a_push_creating_a_repository_another_push_created_meanwhile_goes_on(client, monkeypatch):
    """Create-on-push: the look for the repository takes no lock, so another push may create
    it between that look and this push's creation."""
    from dtr.registry import repository_lookup
    from dtr.services.settings import set_setting

    with client.application.app_context():
        set_setting("create_on_push", True)
        create_repository(None, "pusher/raced")  # by "another push"
    looked = []

    def not_yet(name):  # the look before the other push committed
        looked.append(name)
        return None if len(looked) == 1 else original(name)

    original = repository_lookup.lookup_repository
    monkeypatch.setattr(repository_lookup, "lookup_repository", not_yet)
    response = client.post(
        "/v2/pusher/raced/blobs/uploads/?digest=" + digest_of(b"raced"),
        data=b"raced",
        headers={"Authorization": BASIC, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.data
