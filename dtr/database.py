"""The SQLAlchemy handle and SQLite tuning.

SQLite runs in WAL mode with a busy timeout. Transactions that will write start with
`BEGIN IMMEDIATE` so that two writers queue instead of failing with "database is locked"
when a read transaction tries to upgrade to a write. Within one process, writers queue on a
lock (`SerializedWriteConnection`) rather than on SQLite's busy handler, which sleeps in
steps of up to 100 ms.
"""

import contextvars
import sqlite3
import threading

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)

_read_only = contextvars.ContextVar("dtr_read_only_transactions", default=False)


def set_read_only_transactions(value):
    """Set the transaction style for the current context (per request)."""
    _read_only.set(value)


_sqlite_writer = threading.Lock()


class SerializedWriteConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions hold the process-wide writer lock from
    `BEGIN IMMEDIATE` until commit or rollback."""

    holds_writer = False

    def begin_write(self):
        _sqlite_writer.acquire()
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


def insert_ignoring_duplicates(model, **values):
    """An INSERT that does nothing when the primary key exists (SQLite and PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(model).values(**values).on_conflict_do_nothing())


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


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(connection):
    if connection.dialect.name != "sqlite":
        return
    dbapi_connection = connection.connection.dbapi_connection
    if _read_only.get() or not isinstance(dbapi_connection, SerializedWriteConnection):
        connection.exec_driver_sql("BEGIN" if _read_only.get() else "BEGIN IMMEDIATE")
    else:
        dbapi_connection.begin_write()
