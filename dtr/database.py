"""The SQLAlchemy handle, SQLite tuning and PostgreSQL's writer lock.

SQLite runs in WAL mode with a busy timeout. Transactions that will write start with
`BEGIN IMMEDIATE` so that two writers queue instead of failing with "database is locked"
when a read transaction tries to upgrade to a write. Within one process, writers queue on a
lock (`SerializedWriteConnection`) rather than on SQLite's busy handler, which sleeps in
steps of up to 100 ms.

PostgreSQL (several processes or replicas) keeps the same model: a transaction that may
write takes one advisory lock first, so writers queue across every process while readers
never wait. Write transactions are short by design (no body is streamed inside one).
"""

import contextlib
import contextvars
import logging
import sqlite3
import threading
import time

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session

from .metrics.instruments import record_writer_wait


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)

_read_only = contextvars.ContextVar("dtr_read_only_transactions", default=False)


def set_read_only_transactions(value):
    """Set the transaction style for the current context (per request)."""
    _read_only.set(value)


def transactions_are_read_only() -> bool:
    """Whether transactions begun now in this context are read-only (no writer lock)."""
    return _read_only.get()


@contextlib.contextmanager
def _transactions(read_only):
    token = _read_only.set(read_only)
    try:
        yield
    finally:
        _read_only.reset(token)


def read_only_transactions():
    """Within: transactions begin with a deferred BEGIN, so reads never wait for the writer
    lock (a long read of a background job). End the transaction before leaving."""
    return _transactions(True)


@contextlib.contextmanager
def own_connection(engine=None, write=False):
    """A connection of its own (of `engine`, else the application's), outside the session's
    transaction: its transactions are read-only (never waiting for the writer lock), or with
    `write` begin as writes, also during a GET, and what is left open commits at the end
    (an exception rolls it back)."""
    with _transactions(not write), (engine or db.engine).connect() as connection:
        yield connection
        if write:
            connection.commit()


@contextlib.contextmanager
def write_transaction():
    """Within: a transaction of its own that may write, also during a GET (whose transactions
    are read-only): the current transaction is committed first, the block commits its own
    (rolled back on an exception)."""
    db.session.commit()
    with _transactions(False):
        try:
            yield
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise


_sqlite_writer = threading.Lock()
SLOW_WRITER_WAIT = 2.0  # seconds; a longer wait for the writer lock is logged
log = logging.getLogger("dtr.database")


class SerializedWriteConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions hold the process-wide writer lock from
    `BEGIN IMMEDIATE` until commit or rollback."""

    holds_writer = False

    def begin_write(self):
        started = time.monotonic()
        _sqlite_writer.acquire()
        waited = time.monotonic() - started
        record_writer_wait("sqlite", waited)
        if waited > SLOW_WRITER_WAIT:
            log.warning("a write waited %.1f s for the database (long write transactions?)", waited)
        self.holds_writer = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release_writer()
            raise

    def _release_writer(self):
        if self.holds_writer:
            self.holds_writer = False
            _sqlite_writer.release()

    def commit(self):
        try:
            super().commit()
        finally:
            self._release_writer()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._release_writer()

    def close(self):
        try:
            super().close()
        finally:
            self._release_writer()


def sqlite_connect_args():
    """Engine `connect_args` for SQLite URLs."""
    return {"factory": SerializedWriteConnection, "check_same_thread": False}


def has_written(session) -> bool:
    """Whether the session's open transaction has written (or holds changes it will flush):
    what is done in it now commits with those writes."""
    if not session.in_transaction():
        return False
    if session.new or session.dirty or session.deleted:
        return True
    return session.info.get("dtr_wrote_in") is session.get_transaction()


@event.listens_for(Session, "do_orm_execute")
def _note_statement_writes(execute_state):
    if execute_state.is_insert or execute_state.is_update or execute_state.is_delete:
        session = execute_state.session
        session.info["dtr_wrote_in"] = session.get_transaction()


@event.listens_for(Session, "after_flush")
def _note_flush_writes(session, _flush_context):
    session.info["dtr_wrote_in"] = session.get_transaction()


def _insert_construct(dialect_name):
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def dialect_insert(model):
    """The database's own INSERT construct, which has ON CONFLICT (SQLite and PostgreSQL)."""
    return _insert_construct(db.session.get_bind().dialect.name)(model)


def prepared(build):
    """A statement of a hot path, built once per database by `build(insert)` (`insert`: the
    database's own INSERT construct, as `dialect_insert`) and executed with bound parameters:
    `statement()` returns it. Building a statement and keying it for SQLAlchemy's statement
    cache at every call costs more than SQLite takes to run it."""
    built = {}

    def statement():
        dialect_name = db.session.get_bind().dialect.name
        if dialect_name not in built:
            built[dialect_name] = build(_insert_construct(dialect_name))
        return built[dialect_name]

    return statement


def lock_rows_for_update(column, values):
    """In a write transaction, PostgreSQL: lock the rows whose `column` is in `values` for the
    rest of it (SELECT .. FOR UPDATE). SQLite needs nothing: the write transaction already
    excludes every other writer."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(column).where(column.in_(values)).with_for_update())


def insert_ignoring_duplicates(model, **values):
    """An INSERT that does nothing when the primary key exists (SQLite and PostgreSQL)."""
    db.session.execute(dialect_insert(model).values(**values).on_conflict_do_nothing())


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


# The key of PostgreSQL's advisory lock that write transactions take (any 64-bit number that
# nothing else using the database takes: "DTR" in ASCII).
POSTGRES_WRITER_LOCK = 0x445452


@event.listens_for(Engine, "begin")
def _on_begin(connection):
    if connection.dialect.name == "postgresql":
        if not _read_only.get():
            # One writer at a time, across every process and replica, as with SQLite: the
            # services' check-then-write steps rely on it. Released at commit or rollback.
            started = time.monotonic()
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_WRITER_LOCK})")
            record_writer_wait("postgresql", time.monotonic() - started)
        return
    if connection.dialect.name != "sqlite":
        return
    dbapi_connection = connection.connection.dbapi_connection
    if _read_only.get() or not isinstance(dbapi_connection, SerializedWriteConnection):
        connection.exec_driver_sql("BEGIN" if _read_only.get() else "BEGIN IMMEDIATE")
    else:
        dbapi_connection.begin_write()
