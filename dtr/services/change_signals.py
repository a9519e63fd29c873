"""Process caches that never answer stale after a write in another process.

Each process (a gunicorn worker, a replica, a command) keeps caches of hot lookups. A write
that makes some of them stale invalidates them here at once, and moves a generation number
in the database (`announce`); at the start of every request each process reads the numbers
(`catch_up`, one primary-key SELECT on a connection of its own) and drops the caches of a
family whose number moved since it last looked. So a tag pushed or a token revoked through
one replica is seen by the very next request to any other.

Families, so that a push does not throw away password checks (an argon2 hash each):

    content   repositories, manifests by tag or digest, blob links
    people    settings, credentials, password checks, the storage driver in force

A process's own announcements do not make it drop its caches again (the number it wrote is
the one it expects), unless another process wrote in between.
"""

import logging
import threading

from flask import has_app_context
from sqlalchemy import bindparam, event, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ..database import db, has_written, own_connection, prepared, write_transaction
from ..models import CacheGeneration

CONTENT = "content"
PEOPLE = "people"
FAMILIES = (CONTENT, PEOPLE)

log = logging.getLogger("dtr.caches")
_droppers: dict = {family: [] for family in FAMILIES}
_seen: dict = {}  # family -> the generation this process's caches agree with
_lock = threading.Lock()


def on_remote_change(family, drop):
    """Call `drop()` (which must not announce) when another process changed `family`."""
    _droppers[family].append(drop)


def announce(family):
    """A write that made `family`'s caches stale: tell the other processes. Inside the
    transaction that wrote, it commits with the write; otherwise (called after the commit,
    maybe with a read begun since, which nobody may commit) in a write transaction of its
    own. Outside an application there is no database to tell (a test resetting this
    process's caches)."""
    if not has_app_context():
        return
    session = db.session()
    if has_written(session):
        # This process agrees with the number once it is committed: a look before then
        # reads the number before it, which must not be taken for another process's change.
        announced = session.info.setdefault(_ANNOUNCED, {})
        generation = move_generation(family)
        announced[family] = (announced.get(family, (generation,))[0], generation)
        return
    with write_transaction():
        generation = move_generation(family)
    _agree(family, generation, generation)


_ANNOUNCED = "dtr_announced_generations"  # session.info: family -> (first, last) until commit


def _agree(family, first, last):
    """This process's own announcements (generations first..last) committed: its caches
    agree with `last`, unless another process moved the number before them."""
    with _lock:
        if _seen.get(family) == first - 1:
            _seen[family] = last


@event.listens_for(Session, "after_commit")
def _announced_committed(session):
    for family, (first, last) in session.info.pop(_ANNOUNCED, {}).items():
        _agree(family, first, last)


@event.listens_for(Session, "after_rollback")
def _announced_rolled_back(session):
    session.info.pop(_ANNOUNCED, None)


@prepared
def _move_statement(insert):
    table = CacheGeneration.__table__
    return (
        insert(table)
        .values(name=bindparam("family"), generation=1)
        .on_conflict_do_update(
            index_elements=[table.c.name], set_={"generation": table.c.generation + 1}
        )
        .returning(table.c.generation)
    )


def move_generation(name):
    """In the current write transaction: move the number `name` on (created at 1); returns
    it. The families' numbers, and others kept in the same table (`blob_sweeps`)."""
    return db.session.execute(_move_statement(), {"family": name}).scalar_one()


_GENERATIONS = select(CacheGeneration.__table__.c.name, CacheGeneration.__table__.c.generation)


def catch_up():
    """Drop the caches of every family another process changed since the last look. On a
    connection of its own, outside the request's transaction (which, for a PUT, must not
    begin before the body has streamed)."""
    try:
        with own_connection() as connection:
            rows = connection.execute(_GENERATIONS)
            current = dict(rows.all())
    except DBAPIError as error:  # the request's own queries will say what is wrong
        log.debug("cache generations not read: %s", error)
        return
    for family in FAMILIES:
        generation = current.get(family, 0)
        with _lock:
            seen = _seen.get(family)
            if seen == generation:
                continue
            _seen[family] = generation
        for drop in _droppers[family]:
            drop()
        log.debug("%s caches dropped: generation %s -> %s", family, seen, generation)
