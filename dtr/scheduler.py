"""The in-process scheduler thread: runs periodic jobs inside the server's one worker.

Every `TICK_SECONDS`: the LDAP sync, every `sync_interval_minutes` while the auth mode is
LDAP; garbage collection, when its cron schedule (UTC) says so; every hour, forgetting
failed logins that no longer count. The clock and the sleep are
parameters, so a test can make a job fire without waiting.
"""

import logging
import threading
import time
from datetime import UTC, datetime

log = logging.getLogger("dtr.scheduler")
TICK_SECONDS = 30
HOUSEKEEPING_SECONDS = 3600


def utc_now():
    """Naive UTC, as the database stores times."""
    return datetime.now(UTC).replace(tzinfo=None)


def start_scheduler(app) -> threading.Thread:
    thread = threading.Thread(target=run_scheduler, args=(app,), name="dtr-scheduler", daemon=True)
    thread.start()
    return thread


def run_scheduler(app, clock=utc_now, sleep=time.sleep, ticks=None):
    """Tick forever (or `ticks` times): sleep, then run the jobs that are due."""
    from .services.gc_jobs import ScheduleState

    last_ldap_sync = 0.0
    last_housekeeping = time.monotonic()
    gc_state = ScheduleState()
    done = 0
    while ticks is None or done < ticks:
        sleep(TICK_SECONDS)
        done += 1
        with app.app_context():
            try:
                last_ldap_sync = _ldap_sync_if_due(last_ldap_sync)
            except Exception:  # noqa: BLE001 - a failed job must not stop the scheduler
                log.exception("scheduled LDAP sync failed")
            try:
                _gc_if_due(gc_state, clock())
            except Exception:  # noqa: BLE001
                log.exception("scheduled garbage collection failed")
            try:
                last_housekeeping = _housekeeping_if_due(last_housekeeping)
            except Exception:  # noqa: BLE001
                log.exception("housekeeping failed")
            finally:
                from .database import db

                db.session.remove()


def _ldap_sync_if_due(last_run):
    from .services.auth_settings import ldap_settings
    from .services.ldap_sync import sync_ldap
    from .services.settings import get_setting

    if get_setting("auth_mode") != "ldap":
        return last_run
    settings = ldap_settings()
    if settings is None or time.monotonic() - last_run < settings.sync_interval_minutes * 60:
        return last_run
    result = sync_ldap()
    log.info("LDAP sync: %s", result)
    return time.monotonic()


def _housekeeping_if_due(last_run):
    from .auth.login_throttle import forget_old

    if time.monotonic() - last_run < HOUSEKEEPING_SECONDS:
        return last_run
    forget_old()
    return time.monotonic()


def _gc_if_due(state, now):
    from .database import db
    from .services.gc_jobs import run_scheduled_gc_if_due

    db.session.rollback()  # whatever the LDAP job left open
    run = run_scheduled_gc_if_due(state, now)
    if run is not None:
        log.info("scheduled garbage collection %s: %s", run.id, run.state)
