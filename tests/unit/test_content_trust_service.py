"""services/content_trust.py on a real database: one transaction per update, the server's
keys encrypted at rest, an expired timestamp re-signed on read, signers of a tag, and trust
data going with its repository."""

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dtr import create_app
from dtr.database import db
from dtr.models import Account, Repository, TrustMetadata, TrustServerKey
from dtr.services import content_trust
from dtr.trust.keys import KeyInvalid, ServerKey
from tests.support.tuf_client import Key, TrustClient

GUN = "dtr.example/team/app"
MANIFEST = b'{"schemaVersion": 2, "marker": "service"}'
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


@pytest.fixture
def app(tmp_path):
    app = create_app(tmp_path / "instance")
    app.config["TRUST_KEYS_SECRET"] = "a secret for the tests"
    with app.app_context():
        db.create_all()
        team = Account(name="team", is_org=True)
        db.session.add(team)
        db.session.flush()
        db.session.add(Repository(namespace_id=team.id, name="app"))
        db.session.commit()
        yield app


@pytest.fixture
def repository_id(app):
    return db.session.scalar(select(Repository.id))


def publish(repository_id, **files):
    content_trust.update_trust_data(repository_id, GUN, files)


@pytest.fixture
def client(repository_id):
    keys = {
        role: content_trust.server_public_key(repository_id, GUN, role)
        for role in ("timestamp", "snapshot")
    }
    return TrustClient(GUN, keys["timestamp"], keys["snapshot"])


def rows():
    return db.session.scalar(select(func.count()).select_from(TrustMetadata))


def test_update_then_refused_update_leaves_nothing(repository_id, client):
    publish(repository_id, root=client.root(), targets=client.targets(tags={"v1": MANIFEST}))
    assert rows() == 4
    with pytest.raises(content_trust.TrustUpdateInvalid, match="not delegated by targets"):
        publish(
            repository_id,
            targets=client.targets(version=2),
            **{"targets/releases": client.targets(signers=[Key()])},
        )
    assert rows() == 4
    assert content_trust.dct_signers("team/app", "v1", DIGEST) == ["Repo Admin"]
    assert content_trust.dct_signers("team/app", "v2", DIGEST) == []
    assert content_trust.dct_signers("team/nothing", "v1", DIGEST) == []


def test_server_keys_are_encrypted_at_rest(app, repository_id, client):
    (row,) = db.session.scalars(select(TrustServerKey).where(TrustServerKey.role == "timestamp"))
    key = content_trust.server_keys(repository_id, GUN)["timestamp"]
    assert key.key_id == row.key_id
    secret_number = key.private_key.private_numbers().private_value.to_bytes(32, "big")
    assert secret_number not in row.sealed_private_key
    context = f"{repository_id}\n{GUN}\ntimestamp"
    with pytest.raises(KeyInvalid, match="trust key secret"):
        ServerKey.unseal(row.sealed_private_key, "another secret", context)
    with pytest.raises(KeyInvalid):  # bound to its repository, GUN and role
        ServerKey.unseal(row.sealed_private_key, app.config["TRUST_KEYS_SECRET"], context + "x")


def test_expired_timestamp_is_resigned_on_read(repository_id, client, monkeypatch):
    publish(repository_id, root=client.root(), targets=client.targets(tags={"v1": MANIFEST}))
    assert not content_trust.refresh_server_metadata(repository_id, GUN)
    later = content_trust._now() + timedelta(days=15)
    monkeypatch.setattr(content_trust, "_now", lambda: later)
    assert content_trust.refresh_server_metadata(repository_id, GUN)
    timestamp = json.loads(content_trust.metadata_file(repository_id, GUN, "timestamp"))
    assert timestamp["signed"]["version"] == 2
    assert not content_trust.refresh_server_metadata(repository_id, GUN)
    # signatures still count until the targets expire (3 years), then no longer
    assert content_trust.dct_signers("team/app", "v1", DIGEST) == ["Repo Admin"]
    much_later = later + timedelta(days=4000)
    monkeypatch.setattr(content_trust, "_now", lambda: much_later)
    assert content_trust.dct_signers("team/app", "v1", DIGEST) == []


def test_deleting_trust_data_of_a_repository(repository_id, client):
    publish(repository_id, root=client.root(), targets=client.targets())
    content_trust.delete_trust_data(repository_id)
    db.session.commit()
    assert rows() == 0
    assert db.session.scalar(select(func.count()).select_from(TrustServerKey)) == 0
