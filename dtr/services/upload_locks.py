"""One request at a time writes a given upload, across threads, processes and replicas.

Two PATCHes of one upload running at once (on two replicas behind a load balancer, or a
client that misbehaves) would interleave their bytes in the stored file while each records
a hash state of its own bytes only: the blob committed at the end could hold other bytes
than those its digest was checked against. So every step that reads the upload's size and
hash state, writes bytes and records the new state holds this lock:

- within a process, a thread lock per stripe of upload ids;
- across the processes sharing a SQLite database (one host): a POSIX byte-range lock at
  that stripe's offset of the file `<database file>-upload-locks` beside it (POSIX locks
  belong to a process, hence the thread lock in front of it);
- across PostgreSQL replicas: a session advisory lock on the upload id, on a connection
  held for the step (released when that connection ends, also when its process dies).

A step waits up to UPLOAD_LOCK_WAIT_SECONDS for another one, then the request is refused
(the client retries or restarts the upload); nothing was written.
"""

import contextlib
import fcntl
import os
import threading
import time
import zlib
from pathlib import Path

from flask import current_app
from sqlalchemy import text

from ..database import db, own_connection
from ..errors import BlobUploadInvalid

STRIPES = 1 << 16
POLL_SECONDS = 0.05
# the first key of PostgreSQL's two-key advisory locks taken for uploads ("DTRu")
POSTGRES_UPLOAD_LOCKS = 0x44545275

_thread_locks: dict = {}
_registry = threading.Lock()
_lock_files: dict = {}  # (pid, path) -> open file: each process opens its own


def _stripe(upload_id: str) -> int:
    return zlib.crc32(upload_id.encode()) % STRIPES


def _thread_lock(stripe: int) -> threading.Lock:
    with _registry:
        return _thread_locks.setdefault(stripe, threading.Lock())


def _refused(upload_id):
    return BlobUploadInvalid(
        "another request is writing this upload; retry when it has ended", {"uuid": upload_id}
    )


def _deadline() -> float:
    return time.monotonic() + current_app.config["UPLOAD_LOCK_WAIT_SECONDS"]


@contextlib.contextmanager
def upload_lock(upload_id: str):
    """Hold the upload's lock for the block; BlobUploadInvalid after waiting too long."""
    deadline = _deadline()
    stripe = _stripe(upload_id)
    lock = _thread_lock(stripe)
    if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise _refused(upload_id)
    try:
        if db.engine.dialect.name == "postgresql":
            with _advisory_lock(upload_id, deadline):
                yield
        else:
            with _file_range_lock(stripe, upload_id, deadline):
                yield
    finally:
        lock.release()


def _lock_file():
    """The lock file beside the SQLite database: what the processes have in common."""
    database = db.engine.url.database
    if not database or database == ":memory:":  # one process only (unit tests)
        database = str(Path(current_app.instance_path) / "memory")
    path = Path(f"{database}-upload-locks")
    key = (os.getpid(), str(path))
    with _registry:
        if key not in _lock_files:
            _lock_files[key] = open(path, "a+b")  # noqa: SIM115 - kept open by the process
        return _lock_files[key]


@contextlib.contextmanager
def _file_range_lock(stripe, upload_id, deadline):
    file = _lock_file()
    while True:
        try:
            fcntl.lockf(file, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, stripe)
            break
        except OSError:  # another process holds it
            if time.monotonic() >= deadline:
                raise _refused(upload_id) from None
            time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        fcntl.lockf(file, fcntl.LOCK_UN, 1, stripe)


@contextlib.contextmanager
def _advisory_lock(upload_id, deadline):
    key = zlib.crc32(upload_id.encode()) - (1 << 31)  # a signed 32-bit int
    arguments = {"space": POSTGRES_UPLOAD_LOCKS, "key": key}
    with own_connection() as connection:
        connection.commit()  # no transaction stays open: the lock is the session's
        while not connection.execute(
            text("SELECT pg_try_advisory_lock(:space, :key)"), arguments
        ).scalar():
            connection.commit()
            if time.monotonic() >= deadline:
                raise _refused(upload_id)
            time.sleep(POLL_SECONDS)
        connection.commit()
        try:
            yield
        finally:
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:space, :key)"), arguments)
                connection.commit()
            except Exception:  # never back to the pool holding the lock: closed instead
                connection.invalidate()
                raise
