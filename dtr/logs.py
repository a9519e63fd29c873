"""Logs: one Python logger per component, each line kept twice.

Components log through `component_logger(name)` (the loggers `dtr.auth`, `dtr.registry`,
`dtr.storage`, `dtr.database`, `dtr.api`, `dtr.web`, `dtr.gc`, `dtr.scheduler`; a child such
as `dtr.auth.ldap_directory` belongs to its parent's component). `configure_logging(app)`
installs, once per process, one handler on the `dtr` logger that writes every line

- to a rotating file per component, `instance/logs/<component>.log`, this process's lines,
  and
- to the database, through the queue of the log shipper (log_shipper.py), tagged with the
  process's REPLICA_NAME: the table of every replica's lines, numbered by one sequence,
  which the Logs page, `GET /api/v0/admin/logs` and live streams read (log_queries.py).

Requests are logged once each (`_log_request`) to the component of their path, with method,
path (query values left out: they may carry credentials), status, bytes, duration, user and
client address. Nothing logs a password, a token, an Authorization header or a cookie.

Configuration keys (instance config.json or DTR_* environment; all optional):
LOG_LEVEL (INFO), LOG_FILE_BYTES (10 MiB), LOG_FILE_BACKUPS (5), LOG_KEEP_LINES (5000: the
newest lines of each component kept in the database, of all replicas together),
LOG_QUEUE_LINES (10000: lines waiting for the database; beyond, lines are dropped and
counted), LOG_SHIP_SECONDS (0.5: how often the queue is written), LOG_STREAM_LIMIT (8 live
streams at a time), LOG_STREAM_SECONDS (600: a stream ends, the browser reconnects),
LOG_STREAM_HEARTBEAT_SECONDS (15). REPLICA_NAME: see config.py.
"""

import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

from flask import g, has_request_context, request

COMPONENTS = ("auth", "registry", "storage", "database", "api", "web", "gc", "scheduler")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULTS = {
    "LOG_LEVEL": "INFO",
    "LOG_FILE_BYTES": 10 * 1024 * 1024,
    "LOG_FILE_BACKUPS": 5,
    "LOG_KEEP_LINES": 5000,
    "LOG_QUEUE_LINES": 10_000,
    "LOG_SHIP_SECONDS": 0.5,
    "LOG_STREAM_LIMIT": 8,
    "LOG_STREAM_SECONDS": 600,
    "LOG_STREAM_HEARTBEAT_SECONDS": 15,
}
# the request log's component, by path prefix (everything else: web)
PATH_COMPONENTS = (("/v2", "registry"), ("/api/", "api"), ("/auth/", "auth"))
QUIET_PATHS = ("/static/", "/health")  # logged at DEBUG: dropped at the default level


def component_logger(component: str) -> logging.Logger:
    if component not in COMPONENTS:
        raise ValueError(f"unknown log component {component!r}")
    return logging.getLogger(f"dtr.{component}")


def setting(config, key):
    """A logging setting as a number (DTR_* environment values arrive as strings)."""
    value = config.get(key, DEFAULTS[key])
    if key == "LOG_LEVEL":
        return value
    return float(value) if key.endswith("_SECONDS") else int(value)


# --- a line --------------------------------------------------------------------------------


def render_line(entry) -> str:
    """The line as people read it (files, the Logs page)."""
    text = f"{entry['time']} {entry['level']} {entry['component']}: {entry['message']}"
    context = [f"{key}={entry[key]}" for key in ("user", "client") if entry.get(key)]
    return " ".join([text, *context])


def _entry(record: logging.LogRecord, component: str) -> dict:
    entry = {
        "time": datetime.fromtimestamp(record.created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "component": component,
        "level": record.levelname if record.levelname in LEVELS else "INFO",
        "logger": record.name,
        "message": record.getMessage(),
    }
    entry.update(getattr(record, "http", None) or {})
    if has_request_context():
        entry["user"] = g.get("dtr_user")
        entry["client"] = request.remote_addr
    if record.exc_info:
        entry["exception"] = logging.Formatter().formatException(record.exc_info)
    return entry


# --- the handler ------------------------------------------------------------------------------


def component_of(record: logging.LogRecord) -> str:
    """`dtr.<component>[.child]`; other dtr loggers (Flask's app logger: unhandled errors)
    belong to the component of the request they happen in."""
    parts = record.name.split(".")
    if len(parts) > 1 and parts[1] in COMPONENTS:
        return parts[1]
    return component_for_path(request.path) if has_request_context() else "web"


def component_for_path(path: str) -> str:
    for prefix, component in PATH_COMPONENTS:
        if path == prefix.rstrip("/") or path.startswith(prefix):
            return component
    return "web"


class ComponentHandler(logging.Handler):
    """Routes each line of the `dtr` loggers to its component's file and to the shipper's
    queue (`put(entry)`)."""

    def __init__(self, shipper):
        super().__init__()
        self.shipper = shipper
        self.directory = None
        self.files: dict[str, RotatingFileHandler] = {}

    def open_files(self, directory: Path, max_bytes: int, backups: int):
        """Write to the files in `directory` (another instance: the old files are closed)."""
        if directory == self.directory:
            return
        directory.mkdir(parents=True, exist_ok=True)
        formatter = logging.Formatter("%(dtr_line)s")
        files = {}
        for name in COMPONENTS:
            handler = RotatingFileHandler(
                directory / f"{name}.log", maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
            handler.setFormatter(formatter)
            files[name] = handler
        with self.lock:
            old, self.files, self.directory = self.files, files, directory
        for handler in old.values():
            handler.close()

    def emit(self, record):
        try:
            component = component_of(record)
            entry = _entry(record, component)
            record.dtr_line = render_line(entry)
            file = self.files.get(component)
            if file is not None:
                file.handle(record)
            self.shipper.put(entry)
        except Exception:  # logging must never break the request
            self.handleError(record)


_configure_lock = threading.Lock()
_handler: ComponentHandler | None = None


def configure_logging(app):
    """Install the handler once per process (again for another app: the files follow its
    instance folder), the request log, and the live streams' limit. The lines reach the
    database once `log_shipper.ship_logs(app)` said which (after the database is set up)."""
    from .log_shipper import SHIPPER

    global _handler
    config = app.config
    with _configure_lock:
        if _handler is None:
            _handler = ComponentHandler(SHIPPER)
            logging.getLogger("dtr").addHandler(_handler)
            logging.getLogger("dtr").addHandler(_stderr_errors())
        _handler.open_files(
            Path(app.instance_path) / "logs",
            setting(config, "LOG_FILE_BYTES"),
            setting(config, "LOG_FILE_BACKUPS"),
        )
        logging.getLogger("dtr").setLevel(setting(config, "LOG_LEVEL"))
    app.extensions["dtr_log_streams"] = StreamLimit(setting(config, "LOG_STREAM_LIMIT"))
    app.before_request(_start_clock)
    app.after_request(_log_request)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a line comes (test runners replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def _stderr_errors():
    """Errors also go to standard error (the server's console, journald, a CLI run)."""
    handler = _CurrentStderr()
    handler.setLevel(logging.ERROR)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def log_opened(app):
    """Which database this process uses (no password), for the admin reading the logs of a
    server, a command-line run or a test."""
    from sqlalchemy.engine import make_url

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
    component_logger("database").info("process %s uses the database %s", os.getpid(), url)


# --- the request log -------------------------------------------------------------------------


def set_request_user(name):
    """Tell the request log who calls (where an identity is resolved)."""
    if name and has_request_context():
        g.dtr_user = name


def _printable(text):
    """Control characters escaped: a path cannot forge a line of the log file."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _start_clock():
    g.dtr_started = time.perf_counter()


def _log_request(response):
    path = _printable(request.path)
    if request.args:  # the names only: the values may be credentials
        path += "?" + _printable("&".join(sorted(set(request.args))))
    started = g.get("dtr_started")
    duration = round((time.perf_counter() - started) * 1000, 1) if started else None
    fields = {
        "method": request.method,
        "path": path,
        "status": response.status_code,
        "bytes": response.content_length,
        "durationMs": duration,
    }
    level = logging.ERROR if response.status_code >= 500 else logging.INFO
    if request.path.startswith(QUIET_PATHS):
        level = logging.DEBUG
    size = "-" if fields["bytes"] is None else fields["bytes"]
    component_logger(component_for_path(request.path)).log(
        level,
        "%s %s %s %sB %sms",
        request.method,
        path,
        response.status_code,
        size,
        duration,
        extra={"http": fields},
    )
    return response


# --- live streams --------------------------------------------------------------------------------


class StreamLimit:
    """At most `limit` live streams at a time: each holds a server thread for its life."""

    def __init__(self, limit):
        self._slots = threading.BoundedSemaphore(limit)

    def acquire(self):
        """A release function for the slot taken, or None when all are in use."""
        if not self._slots.acquire(blocking=False):
            return None
        once = threading.Lock()

        def release():
            if once.acquire(blocking=False):  # the first call only
                self._slots.release()

        return release
