"""The event mechanism (services/events.py) in a temporary instance: recorders write in the
publishing transaction (committed or rolled back with it), listeners hear only what
committed, once, and never fail the change."""

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from dtr import create_app
from dtr.database import db, write_transaction
from dtr.models import AuditEvent, Setting
from dtr.services import events
from dtr.services.events import Event


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = create_app(tmp_path_factory.mktemp("events") / "instance")
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app


@pytest.fixture
def heard(app, monkeypatch):
    """(recorded, listened): what a recorder and a listener of tag.create saw; the recorder
    adds an audit row in the publishing transaction."""
    monkeypatch.setattr(events, "_recorders", list(events._recorders))
    monkeypatch.setattr(events, "_listeners", list(events._listeners))
    recorded, listened = [], []

    @events.records(events.TAG_CREATE)
    def _record(event):
        recorded.append((event.id, db.session().in_transaction()))
        db.session.add(AuditEvent(actor="test", action="heard", target=event.id))

    @events.listens(events.TAG_CREATE)
    def _listen(event):
        listened.append(event.id)

    with app.app_context():
        yield recorded, listened


def rows(target):
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.target == target)
    )


def a_write():
    db.session.merge(Setting(key="events-test", value="1"))


def test_listeners_hear_an_event_once_its_transaction_commits(heard):
    recorded, listened = heard
    event = Event(events.TAG_CREATE, "someone", "a/b", "v1", "sha256:" + "0" * 64)
    with write_transaction():
        a_write()
        events.publish(event)
        assert recorded == [(event.id, True)] and listened == []
    assert listened == [event.id]
    assert rows(event.id) == 1
    db.session.commit()
    assert listened == [event.id]  # a later commit does not repeat it


def test_a_rolled_back_change_leaves_no_record_and_tells_no_listener(heard):
    recorded, listened = heard
    event = Event(events.TAG_CREATE, "someone", "a/b", "v2")
    with pytest.raises(RuntimeError), write_transaction():
        a_write()
        events.publish(event)
        raise RuntimeError("the change fails after publishing")
    assert [r[0] for r in recorded] == [event.id]
    assert rows(event.id) == 0 and listened == []
    with write_transaction():
        a_write()
    assert listened == []  # nor at the next commit


def test_an_event_without_a_write_gets_a_transaction_of_its_own(heard):
    recorded, listened = heard
    event = Event(events.TAG_CREATE, None, "a/b", "v3")
    events.publish(event)
    assert listened == [event.id] and rows(event.id) == 1


def test_a_failing_listener_never_fails_the_change(heard, caplog):
    _, listened = heard

    @events.listens(events.TAG_CREATE)
    def _broken(event):
        raise ValueError("a counter broke")

    event = Event(events.TAG_CREATE, "someone", "a/b", "v4")
    with write_transaction():
        a_write()
        events.publish(event)
    assert listened == [event.id] and rows(event.id) == 1
    assert "a listener of tag.create events failed" in caplog.text


def test_events_have_ids_of_their_own_and_name_what_they_are_about():
    pushed = Event(events.MANIFEST_PUSH, "me", "ns/repo", None, "sha256:" + "1" * 64, "m", 10)
    tagged = pushed.but(kind=events.TAG_CREATE, tag="v1")
    assert tagged.id != pushed.id and tagged.digest == pushed.digest
    assert pushed.target() == "ns/repo@sha256:" + "1" * 64
    assert tagged.target() == "ns/repo:v1"
    assert Event(events.REPOSITORY_CREATE, None, "ns/repo").target() == "ns/repo"
    described = tagged.as_dict()
    assert described["kind"] == "tag.create" and described["time"].endswith("Z")
    assert "detail" not in described  # None fields are left out
    with pytest.raises(ValueError):
        events.records("no.such.kind")
