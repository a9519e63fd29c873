"""Pull statistics: how many times, and when last, each tag and manifest was pulled.

A pull is a manifest GET (by tag: the tag and its manifest; by digest: the manifest), as
Docker Hub counts them; a HEAD is not. The `pull` event's listener only adds to counters in
memory, so the hot path writes nothing to the database; a thread in each server process
writes what was counted every PULL_FLUSH_SECONDS in one transaction (and at exit), as
additions, so processes and replicas never overwrite each other's counts. What a process
counted in its last seconds before being killed is lost: statistics, not an audit.
"""

import atexit
import logging
import threading

from sqlalchemy import bindparam, case, update

from ..database import db, write_transaction
from ..models import Manifest, Tag
from . import events

log = logging.getLogger("dtr.pulls")
_lock = threading.Lock()
_manifests: dict = {}  # (repository id, digest) -> [count, last time]
_tags: dict = {}  # (repository id, tag) -> [count, last time]


@events.listens(events.PULL)
def _count(event: events.Event):
    repository_id = (event.detail or {}).get("repositoryId")
    if repository_id is None:
        return
    with _lock:
        _add(_manifests, (repository_id, event.digest), event.time)
        if event.tag:
            _add(_tags, (repository_id, event.tag), event.time)


def _add(counters, key, time, count=1):
    counted = counters.get(key)
    if counted is None:
        counters[key] = [count, time]
    else:
        counted[0] += count
        counted[1] = max(counted[1], time)


def pending() -> int:
    """Pulls counted and not yet written."""
    with _lock:
        return sum(count for count, _ in _manifests.values())


def _updated(model, key_column):
    """UPDATE (Core: executemany) adding a batch's count and moving the last pull time
    forward (never back: a process may write an older batch after another's newer one)."""
    table, later = model.__table__, bindparam("b_time")
    return (
        update(table)
        .where(table.c.repository_id == bindparam("b_repository"))
        .where(table.c[key_column] == bindparam("b_key"))
        .values(
            pull_count=table.c.pull_count + bindparam("b_count"),
            last_pulled_at=case(
                (table.c.last_pulled_at.is_(None), later),
                (table.c.last_pulled_at < later, later),
                else_=table.c.last_pulled_at,
            ),
        )
    )


_MANIFESTS = _updated(Manifest, "digest")
_TAGS = _updated(Tag, "name")


def flush() -> int:
    """Write what was counted; how many pulls that was. What fails to be written is counted
    again for the next flush."""
    global _manifests, _tags
    with _lock:
        manifests, tags, _manifests, _tags = _manifests, _tags, {}, {}
    if not manifests:
        return 0
    try:
        with write_transaction():
            for statement, counters in ((_MANIFESTS, manifests), (_TAGS, tags)):
                if counters:
                    db.session.execute(statement, _rows(counters))
    except Exception:
        with _lock:
            for counters, into in ((manifests, _manifests), (tags, _tags)):
                for key, (count, time) in counters.items():
                    _add(into, key, time, count)
        raise
    return sum(count for count, _ in manifests.values())


def _rows(counters):
    return [
        {"b_repository": repository_id, "b_key": key, "b_count": count, "b_time": time}
        for (repository_id, key), (count, time) in counters.items()
    ]


def start_pull_recorder(app) -> threading.Thread:
    thread = threading.Thread(target=_run, args=(app,), name="dtr-pulls", daemon=True)
    thread.start()
    atexit.register(_flush_at_exit, app)
    return thread


def _run(app):
    stop = threading.Event()
    while not stop.wait(app.config["PULL_FLUSH_SECONDS"]):
        _flush_in(app)


def _flush_in(app):
    with app.app_context():
        try:
            flush()
        except Exception:  # noqa: BLE001 - counted again at the next flush
            log.exception("writing pull statistics failed; retried at the next flush")
        finally:
            db.session.remove()


def _flush_at_exit(app):
    if pending():
        _flush_in(app)
