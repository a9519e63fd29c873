"""How many times garbage collection deleted blob bytes: a number (a row of
`cache_generations`) that the sweep moves in the write transaction that deletes them.

A push reads it before it looks at the storage, and again under the writer lock when it links
the blob (`blobs.store_blob`): unchanged, the bytes it saw or moved are still in place, so the
link needs no storage round trip while every other writer waits for the lock (an S3 HEAD
costs milliseconds to tens of them, and replicas share the one lock)."""

from sqlalchemy import select

from ..database import db
from ..models import CacheGeneration
from . import change_signals

NAME = "blob-sweeps"
_TABLE = CacheGeneration.__table__
GENERATION = select(_TABLE.c.generation).where(_TABLE.c.name == NAME)  # None before any


def current() -> int:
    return db.session.scalar(GENERATION) or 0


def moved():
    """In the sweep's write transaction, before it deletes bytes."""
    change_signals.move_generation(NAME)
