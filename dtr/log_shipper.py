"""The log shipper: each process's log lines go to the database (table `log_lines`), where the
Logs page, GET /api/v0/admin/logs and live streams read the lines of every replica in one
order (log_queries.py).

Logging a line only appends it to a bounded queue in memory: a request never waits for the
database and never fails on it. A thread per process writes what waits every
LOG_SHIP_SECONDS (sooner once BATCH_LINES wait), each batch one short write transaction.
Write transactions queue on the writer lock (database.py), so the table's ids are committed
in their order: a reader of "the lines after N" never misses a line that commits later with
a lower number.

Lines are lost to the database, and counted, when the queue is full (the database slow or
away) or when it refuses a batch; the count is logged once lines are stored again (the files
under instance/logs keep every line). Every PRUNE_SECONDS the thread deletes all but the
newest LOG_KEEP_LINES lines of each component (several replicas each prune: the deletes
agree), so the table holds a little more than that between prunes.
"""

import atexit
import json
import logging
import socket
import threading
import time
from collections import deque
from datetime import datetime

from sqlalchemy import delete, insert, select

from .database import own_connection
from .models import LogLine

BATCH_LINES = 500  # waiting lines that wake the thread before its interval
MAX_BATCH = 2000  # lines per transaction
PRUNE_SECONDS = 60.0
STOP_SECONDS = 2.0  # at exit, the longest wait for the last lines to be stored
TABLE = LogLine.__table__
BASIC_FIELDS = ("time", "component", "level", "logger", "message")

log = logging.getLogger("dtr.database")


def replica_name(config) -> str:
    """REPLICA_NAME, else the host name (see config.py)."""
    return (str(config.get("REPLICA_NAME") or "").strip() or socket.gethostname())[:255]


def _text(value: str) -> str:
    """Text either database takes: no NUL (PostgreSQL refuses it), no lone surrogate."""
    value = value.replace("\x00", "\\x00")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _row(entry: dict, replica: str) -> dict:
    details = {key: value for key, value in entry.items() if key not in BASIC_FIELDS}
    return {
        "time": datetime.fromisoformat(entry["time"].removesuffix("Z")),
        "replica": replica,
        "component": entry["component"],
        "level": entry["level"],
        "logger": _text(entry["logger"])[:255],
        "message": _text(entry["message"]),
        "details": json.dumps(details, default=str) if details else None,
    }


def _reason(error: Exception) -> str:
    """The database's own message (SQLAlchemy's would repeat the batch's lines)."""
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]


class LogShipper:
    """A bounded queue of lines and the thread that writes them to the database."""

    def __init__(self, capacity=10_000, interval=0.5, keep=5000, clock=time.monotonic):
        self.capacity, self.interval, self.keep = capacity, interval, keep
        self.engine = None
        self.replica = replica_name({})
        self._clock = clock
        self._pending = deque()  # append and popleft are atomic: no lock on the hot path
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._flushing = threading.Lock()  # one batch at a time, in order
        self._wake = threading.Event()
        self._stopping = False
        self._thread = None
        self._next_prune = 0.0
        self._failing = False
        self._quiet = False  # at exit: a line said now would be stored nowhere

    def configure(self, engine, replica, capacity, interval, keep):
        """Where to write and how (another application of this process: its database)."""
        self.engine, self.replica = engine, replica
        self.capacity, self.interval, self.keep = capacity, interval, keep

    def put(self, entry: dict):
        """Queue a line (called by the log handler: never blocks, never raises)."""
        if len(self._pending) >= self.capacity:
            self._count_dropped(1)
            return
        self._pending.append(entry)
        if len(self._pending) == BATCH_LINES:
            self._wake.set()

    def _count_dropped(self, count):
        with self._dropped_lock:
            self._dropped += count

    def _take_dropped(self) -> int:
        with self._dropped_lock:
            count, self._dropped = self._dropped, 0
        return count

    @property
    def dropped(self) -> int:
        """Lines lost to the database and not yet reported."""
        return self._dropped

    def flush(self) -> int:
        """Store what waits now, in batches; prune when due. Returns the lines stored. When
        it returns, every line queued before the call is stored or counted as dropped: a
        reader that flushes first sees this process's lines up to its own request."""
        stored = 0
        with self._flushing:
            while self._pending and self.engine is not None:
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), MAX_BATCH))]
                if not self._write(batch):
                    break
                stored += len(batch)
            if stored and self._clock() >= self._next_prune:
                self._next_prune = self._clock() + PRUNE_SECONDS
                self._attempt(self.prune, "old log lines not deleted")
        return stored

    def _write(self, batch) -> bool:
        def write():
            rows = [_row(entry, self.replica) for entry in batch]
            with own_connection(self.engine, write=True) as connection:
                connection.execute(insert(TABLE), rows)

        if not self._attempt(write, "log lines not stored in the database"):
            self._count_dropped(len(batch))
            return False
        dropped = self._take_dropped()
        if dropped and not self._quiet:
            log.warning(
                "%s log lines were not stored in the database (it was slow or unreachable); "
                "the files under instance/logs have them",
                dropped,
            )
        return True

    def _attempt(self, action, failure) -> bool:
        """Run `action`; a failure is logged once until an action succeeds again."""
        try:
            action()
        except Exception as error:  # noqa: BLE001 - shipping must go on whatever happens
            if not self._failing and not self._quiet:
                self._failing = True
                log.warning("%s (the files keep them): %s", failure, _reason(error))
            return False
        self._failing = False
        return True

    def prune(self):
        """Delete all but the newest `keep` lines of each component, one transaction."""
        with own_connection(self.engine, write=True) as connection:
            components = connection.scalars(select(TABLE.c.component).distinct()).all()
            for component in components:
                newest_deleted = (
                    select(TABLE.c.id)
                    .where(TABLE.c.component == component)
                    .order_by(TABLE.c.id.desc())
                    .offset(self.keep)
                    .limit(1)
                    .scalar_subquery()
                )
                connection.execute(
                    delete(TABLE).where(
                        TABLE.c.component == component, TABLE.c.id <= newest_deleted
                    )
                )

    def start(self):
        """The thread, once per process (again in a forked child, where it is gone)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping = self._quiet = False
        if self._thread is None:
            atexit.register(self.stop)
        self._thread = threading.Thread(target=self._run, name="dtr-log-shipper", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            self._flush_in_thread()
        self._flush_in_thread()  # what was logged up to the exit

    def _flush_in_thread(self):
        try:
            self.flush()
        except Exception:  # a bug: said, and the thread goes on
            log.exception("the log shipper failed")

    def stop(self, timeout=STOP_SECONDS):
        """End the thread after it stored what waits (at most `timeout` seconds): a command
        line run's lines reach the database too."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._stopping = self._quiet = True
        self._wake.set()
        thread.join(timeout)


SHIPPER = LogShipper()


def ship_logs(app):
    """Ship this process's lines to `app`'s database, tagged with its replica name (the
    thread starts once per process; another application of the process takes it over)."""
    from .database import db
    from .logs import setting

    config = app.config
    with app.app_context():
        engine = db.engine
    SHIPPER.configure(
        engine,
        replica_name(config),
        capacity=setting(config, "LOG_QUEUE_LINES"),
        interval=setting(config, "LOG_SHIP_SECONDS"),
        keep=setting(config, "LOG_KEEP_LINES"),
    )
    SHIPPER.start()
