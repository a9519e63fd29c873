"""The orders that make garbage collection safe beside pushes, each forced step by step (a
collection run exactly between two steps of a push, in a real app on a temporary instance):
see the docstring of dtr/gc.py."""

import hashlib
import io
import json
from datetime import timedelta

import pytest
from flask_migrate import upgrade

from dtr import create_app, gc
from dtr.database import db
from dtr.errors import BlobUnknown, ManifestBlobUnknown
from dtr.models import Blob, Manifest, RepositoryBlob, utcnow
from dtr.services import blobs, gc_settings, manifests, uploads
from dtr.services.accounts import create_user
from dtr.services.repositories import create_repository
from dtr.services.settings import forget_cached_setting
from dtr.storage import current_storage
from dtr.storage.layout import blob_path, upload_path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture
def app(tmp_path):
    app = create_app(tmp_path / "instance")
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        for key in (gc_settings.SCHEDULE_KEY, gc_settings.GRACE_KEY, gc_settings.UNTAGGED_KEY):
            forget_cached_setting(key)
        create_user("admin", "admin-password-1", "admin")
        yield app


@pytest.fixture
def repository(app):
    return create_repository(None, "admin/races")


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload(repository, data):
    uploads.monolithic_upload(repository, digest_of(data), io.BytesIO(data), len(data))
    return digest_of(data)


def collect(grace_minutes=0):
    """A collection; with a grace window of 0, whatever was touched before it is old."""
    gc_settings.update_gc_settings(None, grace_minutes=grace_minutes)
    return gc.run_garbage_collection()


def image_manifest(layers):
    config = b'{"architecture":"amd64","os":"linux"}'
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": digest_of(x),
                "size": len(x),
            }
            for x in layers
        ],
    }
    return config, json.dumps(body).encode()


def bytes_present(digest):
    return current_storage().stat(blob_path(digest)) is not None


def linked(repository, digest):
    return db.session.get(RepositoryBlob, (repository.id, digest)) is not None


def run_between_move_and_link(monkeypatch, action):
    """Run `action` once, after a push placed the bytes, before the link commits."""
    original = blobs._link_present_blob

    def link(*args):
        monkeypatch.setattr(blobs, "_link_present_blob", original)
        action()
        return original(*args)

    monkeypatch.setattr(blobs, "_link_present_blob", link)


@pytest.mark.parametrize("grace_minutes", [120, 0])
def test_collection_between_move_and_link_keeps_a_new_blob(monkeypatch, repository, grace_minutes):
    """The blob has no row yet: a collection has nothing to delete, whatever its grace."""
    runs = []
    run_between_move_and_link(monkeypatch, lambda: runs.append(collect(grace_minutes)))
    digest = upload(repository, f"a layer being pushed, grace {grace_minutes}".encode())
    assert runs[0].blobs_deleted == 0
    assert bytes_present(digest) and linked(repository, digest)


def test_collection_deleting_the_bytes_before_the_link_fails_the_upload_cleanly(
    monkeypatch, repository
):
    """A row whose bytes were missing (damage) makes a collection delete the path the push
    just moved its bytes to: the link sees them gone and fails cleanly, leaving nothing."""
    data = b"a layer whose row lost its bytes"
    digest = upload(repository, data)
    current_storage().delete(blob_path(digest))
    runs = []
    run_between_move_and_link(monkeypatch, lambda: runs.append(collect(grace_minutes=0)))
    with pytest.raises(BlobUnknown):
        upload(repository, data)
    assert runs[0].blobs_deleted == 1
    assert not bytes_present(digest) and not linked(repository, digest)
    assert db.session.get(Blob, digest) is None  # no row without bytes
    assert list(current_storage().list("uploads")) == []
    assert upload(repository, data) == digest  # pushed again: stored
    assert bytes_present(digest) and linked(repository, digest)


def test_collection_deleting_existing_bytes_before_the_link_uses_the_spare_copy(
    monkeypatch, repository
):
    data = b"a layer stored long ago, pushed again"
    digest = upload(repository, data)
    runs = []
    run_between_move_and_link(monkeypatch, lambda: runs.append(collect(grace_minutes=0)))
    session = uploads.start_upload(repository, "admin")
    uploads.finish_upload(repository, session, digest, io.BytesIO(data), len(data))
    assert runs[0].blobs_deleted == 1  # the old copy went...
    assert bytes_present(digest) and linked(repository, digest)  # ...the spare took its place
    with current_storage().reader(blob_path(digest)) as stored:
        assert stored.read() == data
    assert current_storage().stat(upload_path(session)) is None


def test_manifest_pushed_after_a_sweep_fails_cleanly_and_before_keeps_its_blobs(repository):
    layer = b"a layer a manifest will name"
    config, manifest = image_manifest([layer])
    upload(repository, config)
    upload(repository, layer)
    run = collect()  # nothing names them yet: garbage
    assert run.blobs_deleted == 2
    with pytest.raises(ManifestBlobUnknown):
        manifests.push_manifest(repository, "admin/races", "v1", manifest, OCI_MANIFEST, "admin")
    db.session.rollback()
    upload(repository, config)
    upload(repository, layer)
    manifests.push_manifest(repository, "admin/races", "v1", manifest, OCI_MANIFEST, "admin")
    assert collect().blobs_deleted == 0
    assert bytes_present(digest_of(layer)) and bytes_present(digest_of(config))


def sweep_after(monkeypatch, phase, action):
    """Run `action` after the mark, just before the given sweep."""
    original = getattr(gc.Collection, phase)

    def sweep(self, *args, **kwargs):
        action()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(gc.Collection, phase, sweep)


def test_a_manifest_tagged_after_the_mark_is_spared(monkeypatch, repository):
    layer = b"layer of an untagged image"
    config, manifest = image_manifest([layer])
    upload(repository, config)
    upload(repository, layer)
    manifests.push_manifest(
        repository, "admin/races", digest_of(manifest), manifest, OCI_MANIFEST, "admin"
    )

    def tag():
        return manifests.push_manifest(
            repository, "admin/races", "late", manifest, OCI_MANIFEST, "admin"
        )

    sweep_after(monkeypatch, "sweep_manifests", tag)
    run = collect()
    assert run.manifests_deleted == 0 and run.blobs_deleted == 0
    assert manifests.find_manifest(repository, "late").digest == digest_of(manifest)
    assert bytes_present(digest_of(layer))


def test_a_child_listed_by_an_index_pushed_after_the_mark_is_spared(monkeypatch, repository):
    layer = b"layer of a child"
    config, child = image_manifest([layer])
    upload(repository, config)
    upload(repository, layer)
    manifests.push_manifest(
        repository, "admin/races", digest_of(child), child, OCI_MANIFEST, "admin"
    )
    db.session.execute(  # pushed long ago: old, untagged
        db.update(Manifest).values(created_at=utcnow() - timedelta(days=1))
    )
    db.session.commit()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": digest_of(child), "size": len(child)}
            ],
        }
    ).encode()

    def push_index():
        return manifests.push_manifest(
            repository, "admin/races", "multi", index, OCI_INDEX, "admin"
        )

    sweep_after(monkeypatch, "sweep_manifests", push_index)
    run = collect()
    assert run.manifests_deleted == 0 and run.blobs_deleted == 0
    assert manifests.find_manifest(repository, digest_of(child))
    assert bytes_present(digest_of(layer))


def test_a_blob_referenced_after_the_mark_is_spared(monkeypatch, repository):
    layer = b"a layer uploaded long before its manifest"
    config, manifest = image_manifest([layer])
    upload(repository, config)
    upload(repository, layer)

    def push():
        return manifests.push_manifest(
            repository, "admin/races", "v1", manifest, OCI_MANIFEST, "admin"
        )

    sweep_after(monkeypatch, "sweep_blobs", push)
    run = collect()
    assert run.blobs_deleted == 0
    assert bytes_present(digest_of(layer)) and linked(repository, digest_of(layer))
    assert manifests.find_manifest(repository, "v1")


def test_dry_run_reports_and_keeps(repository):
    digest = upload(repository, b"garbage to list")
    gc_settings.update_gc_settings(None, grace_minutes=0)
    run = gc.run_garbage_collection(dry_run=True, now=utcnow() + timedelta(hours=1))
    assert json.loads(run.report)["blobs"] == [digest]
    assert run.blobs_deleted == 1 and run.bytes_reclaimed == len(b"garbage to list")
    assert bytes_present(digest) and db.session.get(Blob, digest) is not None


def test_a_push_with_no_collection_meanwhile_looks_at_the_storage_once(monkeypatch, repository):
    """No storage round trip under the writer lock unless a collection deleted bytes since
    the push looked (services/blob_sweeps.py): the link's transaction trusts that look."""
    storage = current_storage()
    looks = []
    original = type(storage).stat
    monkeypatch.setattr(
        type(storage), "stat", lambda self, path: looks.append(path) or original(self, path)
    )
    digest = upload(repository, b"a layer nobody collects")
    assert looks.count(blob_path(digest)) == 1
    assert bytes_present(digest) and linked(repository, digest)
    assert collect(grace_minutes=0).blobs_deleted == 1  # it, referenced by no manifest
    looks.clear()
    again = upload(repository, b"another layer")  # looked after that sweep: once again
    assert looks.count(blob_path(again)) == 1
