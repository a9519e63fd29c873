"""Settings > Storage: which backend holds the blobs (filesystem, S3, Azure Blob, Swift) and
its options, stored as the admin setting `storage` = {"backend": ..., "options": {...}}.

Without a stored setting the blobs live on the filesystem under the instance's storage folder
(config STORAGE_ROOT). A configuration is saved only after a probe object was written, read
back and deleted with it, and it applies live: `ActiveStorage`, which `current_storage()`
asks, rebuilds its driver when the stored setting changes. Secret options (keys, passwords)
are stored but never returned; a change that leaves a secret out keeps the stored one.
Changing the backend moves no data: `python app.py storage migrate` does
(`storage_migration.py`).
"""

import json
import logging
import threading
import time
import uuid
import weakref
from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy import select

from ..database import db, own_connection
from ..errors import InvalidInput
from ..metrics.storage_errors import counting_errors, create_counted_driver
from ..models import Setting
from ..storage import BACKENDS, PathNotFound, StorageError, backend_fields, create_driver
from ..storage.fields import check_options
from . import audit, change_signals
from .callers import require_admin
from .field_checks import refuse_unknown_fields
from .settings import forget_cached_setting, get_setting, set_setting

KEY = "storage"
RECHECK_SECONDS = 5.0  # as long as other settings are cached (settings.py)
PROBE_FOLDER = "_dtr-probe"
PROBE_SECONDS = 30  # Azure and Swift drivers retry an unreachable endpoint for 30-60 s
MIGRATE_COMMAND = "python app.py storage migrate --to CONFIG.json [--switch]"
log = logging.getLogger("dtr.storage")


@dataclass(frozen=True)
class StorageConfig:
    backend: str
    options: dict

    def as_setting(self) -> dict:
        return {"backend": self.backend, "options": self.options}


def default_config() -> StorageConfig:
    return StorageConfig("filesystem", {"rootDirectory": current_app.config["STORAGE_ROOT"]})


def _config_of(stored) -> StorageConfig:
    if not stored:
        return default_config()
    return StorageConfig(stored["backend"], dict(stored["options"]))


def active_config() -> StorageConfig:
    return _config_of(get_setting(KEY))


# --- the driver in force --------------------------------------------------------------------


@dataclass(frozen=True)
class _Active:
    version: str | None  # the stored setting's JSON text (None: the default)
    driver: object
    checked_until: float


class ActiveStorage:
    """The driver of the stored setting, for one application. `driver()` is called on every
    request that touches storage: it compares the stored setting with the one its driver was
    built from at most every RECHECK_SECONDS, so a change saved by any process applies here
    within that time (at once in the process that saved it, see `forget`)."""

    def __init__(self):
        self._active = None
        self._lock = threading.Lock()
        _instances.add(self)

    def recheck(self):
        """Compare the stored setting at the next call (another process changed settings)."""
        active = self._active
        if active is not None:
            self._active = _Active(active.version, active.driver, 0.0)

    def driver(self):
        active = self._active
        now = time.monotonic()
        if active is not None and now < active.checked_until:
            return active.driver
        version = _stored_version()
        with self._lock:
            active = self._active
            if active is None or active.version != version:
                active = _Active(version, _driver_for(version), 0.0)
            self._active = _Active(active.version, active.driver, now + RECHECK_SECONDS)
        return active.driver

    def adopt(self, config, driver):
        """This process saved `config` and probed `driver` with it: use that driver (a
        second one would cost its SDK client's memory again), unless the stored setting is
        not `config` any more (another process saved meanwhile)."""
        version = _stored_version()
        if version is None or _config_of(json.loads(version)) != config:
            _close(driver)
            self._active = None  # check at the next call
            return
        with self._lock:
            driver = counting_errors(driver, config.backend)
            self._active = _Active(version, driver, time.monotonic() + RECHECK_SECONDS)
        log.info("blobs are stored on %s", _where(config))


_instances: "weakref.WeakSet[ActiveStorage]" = weakref.WeakSet()


def _recheck_all():
    for instance in list(_instances):
        instance.recheck()


change_signals.on_remote_change(change_signals.PEOPLE, _recheck_all)


def _stored_version() -> str | None:
    """The stored setting as text, read on a short connection of its own: `driver()` runs
    in the middle of requests, and must neither start a transaction on their session (for a
    PUT or PATCH it would take the SQLite writer lock for as long as the body streams) nor
    see that session's snapshot."""
    with own_connection() as connection:
        return connection.execute(select(Setting.value).where(Setting.key == KEY)).scalar()


def _driver_for(version):
    config = _config_of(json.loads(version) if version else None)
    log.info("blobs are stored on %s", _where(config))
    try:
        return create_counted_driver(config.backend, config.options)
    except ValueError as error:  # stored by hand, or by an older version of DTR
        raise StorageError(
            f"the stored {config.backend} storage settings are invalid: {error}"
        ) from None


def _where(config: StorageConfig) -> str:
    """The backend and its place (never a secret), for log lines."""
    options = config.options
    place = options.get("rootDirectory") if config.backend == "filesystem" else None
    place = place or options.get("bucket") or options.get("container")
    return f"{config.backend} ({place})" if place else config.backend


# --- describing, checking and saving ---------------------------------------------------------


def field_description(field) -> dict:
    return {
        "name": field.name,
        "label": field.label,
        "kind": field.kind,
        "required": field.required,
        "default": field.default,
        "help": field.help,
    }


def shown(config: StorageConfig) -> dict:
    """The configuration as the API and the page show it: secrets as set/unset only."""
    fields = backend_fields(config.backend)
    return {
        "backend": config.backend,
        "options": {
            f.name: config.options.get(f.name, f.default) for f in fields if f.kind != "secret"
        },
        "secrets": {f.name: bool(config.options.get(f.name)) for f in fields if f.kind == "secret"},
    }


def describe(actor) -> dict:
    require_admin(actor, "see the storage settings")
    return {
        **shown(active_config()),
        "fields": {
            backend: [field_description(f) for f in backend_fields(backend)] for backend in BACKENDS
        },
        "migrateCommand": MIGRATE_COMMAND,
    }


def requested_config(body: dict) -> StorageConfig:
    """The configuration a request asks for, its options checked against the backend's
    fields. A secret left out (or "") keeps the stored one of the same backend; null clears
    it."""
    if not isinstance(body, dict):
        raise InvalidInput("body: a JSON object is required")
    refuse_unknown_fields(body, {"backend", "options"}, "unknown field")
    backend = body.get("backend")
    if backend not in BACKENDS:
        raise InvalidInput(f"backend: one of {', '.join(BACKENDS)}", {"field": "backend"})
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise InvalidInput("options: an object of the backend's options", {"field": "options"})
    fields = backend_fields(backend)
    stored = active_config()
    merged = {name: value for name, value in options.items() if value is not None}
    for field in fields:
        kept = field.kind == "secret" and options.get(field.name, "") == ""  # None clears
        if kept and stored.backend == backend and stored.options.get(field.name):
            merged[field.name] = stored.options[field.name]
    try:
        return StorageConfig(backend, check_options(fields, merged))
    except ValueError as error:
        raise InvalidInput(f"options: {error}", {"field": "options"}) from None


def check_connection(config: StorageConfig) -> dict:
    """{"ok", "message"}: whether a probe object could be written, read back and deleted
    with `config`, within PROBE_SECONDS. Options the backend refuses are InvalidInput."""
    outcome, driver = _probed_driver(config)
    _close(driver)
    return outcome


def _probed_driver(config: StorageConfig):
    """(outcome, the driver that passed the probe or None). The probe runs in a thread of
    its own: an unreachable endpoint keeps a driver retrying for long."""
    try:
        driver = create_driver(config.backend, config.options)
    except ValueError as error:
        raise InvalidInput(f"options: {error}", {"field": "options"}) from None
    except StorageError as error:
        return {"ok": False, "message": str(error)}, None
    outcome, lock, state = {}, threading.Lock(), {"finished": False, "abandoned": False}

    def probe():
        result = _probe(driver)
        with lock:
            outcome.update(result)
            state["finished"] = True
            abandoned = state["abandoned"]
        if abandoned:
            _close(driver)

    thread = threading.Thread(target=probe, name="dtr-storage-probe", daemon=True)
    thread.start()
    thread.join(PROBE_SECONDS)
    with lock:
        if not state["finished"]:  # it goes on retrying in the background, then closes
            state["abandoned"] = True
            return {
                "ok": False,
                "message": f"No answer within {PROBE_SECONDS} s: the endpoint is unreachable "
                "or very slow (the driver retries with backoff). Check the endpoint or auth "
                "URL and the network between DTR and the storage.",
            }, None
    if not outcome["ok"]:
        _close(driver)
        return outcome, None
    return outcome, driver


def _close(driver):
    close = getattr(driver, "close", None)
    if callable(close):
        close()


def _probe(driver) -> dict:
    path = f"{PROBE_FOLDER}/{uuid.uuid4().hex}"
    data = f"DTR storage probe {path}\n".encode()
    started = time.monotonic()
    step = "writing a probe object"
    try:
        writer = driver.writer(path)
        writer.write(data)
        writer.commit()
        step = "reading the probe object back"
        with driver.reader(path) as reader:
            back = b"".join(iter(lambda: reader.read(65536), b""))
        if back != data:
            raise StorageError(f"read {len(back)} bytes that differ from the {len(data)} written")
        step = "deleting the probe object"
        driver.delete(path)
        if driver.stat(path) is not None:
            raise StorageError("it is still there after the delete")
    except Exception as error:  # every failure is the outcome to show
        _delete_quietly(driver, path)
        if isinstance(error, PathNotFound):
            reason = "the object just written was not found"
        elif isinstance(error, StorageError):
            reason = str(error)
        else:
            reason = f"{type(error).__name__}: {error}"
        return {"ok": False, "message": f"Failed {step}: {reason}"}
    milliseconds = (time.monotonic() - started) * 1000
    return {
        "ok": True,
        "message": f"Wrote, read back and deleted a probe object in {milliseconds:.0f} ms.",
    }


def _delete_quietly(driver, path):
    try:
        driver.delete(path)
    except Exception:  # best effort, after a failure already reported
        pass


def try_connection(actor, body: dict) -> dict:
    """Check a configuration before saving it (nothing is saved)."""
    require_admin(actor, "change the storage settings")
    return check_connection(requested_config(body))


def update(actor, body: dict) -> dict:
    """Check the configuration with a probe object, then save it: it applies at once."""
    require_admin(actor, "change the storage settings")
    save(requested_config(body), actor.name)
    return describe(actor)


def save(config: StorageConfig, actor_name):
    """Probe, then store `config` as the storage in force (audited); InvalidInput with the
    probe's message when it fails, and nothing is saved."""
    outcome, driver = _probed_driver(config)
    if driver is None:
        raise InvalidInput(
            f"the storage check failed, nothing was saved: {outcome['message']}",
            {"field": "options"},
        )
    before = active_config()
    set_setting(KEY, config.as_setting(), commit=False)
    described = shown(config)
    described["secretsChanged"] = [
        name for name in described["secrets"] if config.options[name] != before.options.get(name)
    ]
    audit.record(actor_name, "settings.storage", config.backend, described)
    try:
        db.session.commit()
    except BaseException:
        _close(driver)
        raise
    forget_cached_setting(KEY)
    g.pop("dtr_storage_driver", None)  # the rest of this request sees the new storage
    current_app.extensions["dtr_storage"].adopt(config, driver)
