"""The storage-full state: recorded when a write to storage fails for lack of room
(`StorageFull` from the driver: a full disk, a quota), shown to admins as a banner on every
page, and cleared by the next blob stored whole. Kept as the admin setting `storage_full`,
so every process sharing the database shows it (within the settings cache's seconds).
"""

import contextlib
import logging
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from ..database import db
from ..models import Setting
from ..storage import StorageFull, current_storage
from .settings import forget_cached_setting, get_setting, set_setting

KEY = "storage_full"
log = logging.getLogger("dtr.storage")


def record_storage_full(error: StorageFull, what: str):
    """Log the failure and remember it for the banner. `what` says which write failed
    ("a push to admin/app"). The database may be on the full disk too: then only the log
    line tells."""
    log.error("%s failed: %s", what, error)
    state = {
        "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "freeBytes": error.free_bytes,
        "what": what,
        "reason": error.reason,
    }
    try:
        db.session.rollback()
        set_setting(KEY, state)
    except SQLAlchemyError as failure:
        db.session.rollback()
        log.error("could not record the storage-full state: %s", failure)


@contextlib.contextmanager
def noting_storage_full(what: str):
    """Record (and re-raise) StorageFull raised inside."""
    try:
        yield
    except StorageFull as error:
        record_storage_full(error, what)
        raise


def clear_storage_full():
    """A blob was stored whole: storage takes writes again. Costs a cached read when the
    state is not set (every push calls it)."""
    if get_setting(KEY) is None:
        return
    db.session.query(Setting).filter(Setting.key == KEY).delete()
    db.session.commit()
    forget_cached_setting(KEY)
    log.info("storage takes writes again: a blob was stored")


def storage_full_banner() -> str | None:
    """The warning admins see on every page while the state is set, or None."""
    state = get_setting(KEY)
    if state is None:
        return None
    free = state.get("freeBytes")
    said = "" if free is None else f" with {free:,} bytes free"
    try:
        now = current_storage().free_bytes()
    except Exception:  # noqa: BLE001 - a banner must never break a page
        now = None
    current = "" if now is None else f" ({now:,} bytes free now)"
    return (
        f"Storage is full: {state.get('what', 'a write')} failed at {state.get('at')}{said}"
        f"{current}. Pushes fail until space is freed (delete images and collect garbage, "
        "or grow the storage); this warning goes at the next push that succeeds."
    )
