"""Pull statistics: a manifest GET counts a pull of the tag and of the manifest in memory (no
write transaction on the hot path; a HEAD counts nothing); a flush writes the batch as
additions, so two processes' counts add up, and a failed flush keeps what it had counted."""

import pytest
from sqlalchemy import select

from dtr.database import db
from dtr.models import Manifest, Tag
from dtr.services import pull_statistics
from tests.unit.test_manifest_push_transactions import (
    BASIC,
    OCI_MANIFEST,
    digest_of,
    manifest,
    push_blob,
    pusher_client,
    put,
    writes_of,
)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return pusher_client(tmp_path_factory.mktemp("pulls") / "instance")


_tests = iter(range(1000))


@pytest.fixture
def pushed(client):
    """(a new tag, its manifest's digest: a manifest of its own, never pulled)"""
    number = next(_tests)
    config = push_blob(client, b'{"os":"linux","pulls":%d}' % number)
    body = manifest(config, push_blob(client, b"pulled"))
    response = put(client, f"manifests/t{number}", body, **{"Content-Type": OCI_MANIFEST})
    assert response.status_code == 201, response.data
    with client.application.app_context():
        pull_statistics.flush()
    return f"t{number}", digest_of(body)


def pull(client, reference, method="GET"):
    response = client.open(
        f"/v2/pusher/pushes/manifests/{reference}",
        method=method,
        headers={"Authorization": BASIC, "Accept": OCI_MANIFEST},
    )
    assert response.status_code == 200, response.data
    return response


def counts(client, pushed):
    name, digest = pushed
    with client.application.app_context():
        tag = db.session.execute(
            select(Tag.pull_count, Tag.last_pulled_at).where(Tag.name == name)
        ).one()
        stored = db.session.execute(
            select(Manifest.pull_count, Manifest.last_pulled_at).where(Manifest.digest == digest)
        ).one()
        db.session.rollback()
    return tuple(tag), tuple(stored)


def test_pulls_are_counted_without_writing_then_written_in_one_batch(client, pushed):
    with writes_of(client) as writes:
        for _ in range(3):
            pull(client, pushed[0])
        pull(client, pushed[0], "HEAD")
        pull(client, pushed[1])
        pull(client, pushed[1])
    assert writes.statements == [] and writes.transactions == 0
    assert pull_statistics.pending() == 5
    assert counts(client, pushed) == ((0, None), (0, None))
    with client.application.app_context():
        assert pull_statistics.flush() == 5
    (tag_count, tag_time), (manifest_count, manifest_time) = counts(client, pushed)
    assert (tag_count, manifest_count) == (3, 5)
    assert tag_time is not None and manifest_time >= tag_time
    assert pull_statistics.pending() == 0


def test_batches_add_up_and_a_failed_flush_keeps_its_counts(client, pushed, monkeypatch):
    pull(client, pushed[0])
    with client.application.app_context():
        pull_statistics.flush()
    pull(client, pushed[0])
    pull(client, pushed[0])

    def broken(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    with client.application.app_context(), monkeypatch.context() as patched:
        patched.setattr(db.session, "execute", broken)
        with pytest.raises(RuntimeError):
            pull_statistics.flush()
    assert pull_statistics.pending() == 2  # kept for the next flush
    with client.application.app_context():
        assert pull_statistics.flush() == 2
    assert counts(client, pushed)[0][0] == 3


def test_the_tag_list_shows_pulls(client, pushed):
    pull(client, pushed[0])
    with client.application.app_context():
        pull_statistics.flush()
    listed = client.get(
        "/api/v0/repositories/pusher/pushes/tags",
        headers={"Authorization": BASIC},
    )
    assert listed.status_code == 200, listed.data
    tag = next(t for t in listed.json["tags"] if t["name"] == pushed[0])
    assert tag["pullCount"] == 1 and tag["lastPulledAt"].endswith("Z")


def test_pulls_wait_in_memory_for_webhooks_and_only_a_subscription_makes_a_write(
    client, pushed, monkeypatch, caplog
):
    from collections import deque

    from dtr.services import webhooks

    monkeypatch.setattr(webhooks, "_pulls", deque(maxlen=2))
    with writes_of(client) as writes:
        for _ in range(3):
            pull(client, pushed[0])
        with client.application.app_context():
            assert webhooks.queue_heard_pulls() == 0  # nobody subscribes to pull
    assert writes.transactions == 0
    assert "1 pulls were not queued for webhooks" in caplog.text  # the third went over
    assert not webhooks._pulls and webhooks._dropped == [0]
    with client.application.app_context():
        pull_statistics.flush()
