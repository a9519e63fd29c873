"""The in-process scheduler thread: runs periodic jobs inside the server's one worker.

So far one job: the LDAP sync, every `sync_interval_minutes` while the auth mode is LDAP.
(Garbage collection on its cron schedule joins here.)
"""

import logging
import threading
import time

log = logging.getLogger("dtr.scheduler")
TICK_SECONDS = 30


def start_scheduler(app) -> threading.Thread:
    thread = threading.Thread(target=_run, args=(app,), name="dtr-scheduler", daemon=True)
    thread.start()
    return thread


def _run(app):
    last_ldap_sync = 0.0
    while True:
        time.sleep(TICK_SECONDS)
        with app.app_context():
            try:
                last_ldap_sync = _ldap_sync_if_due(last_ldap_sync)
            except Exception:  # noqa: BLE001 - a failed job must not stop the scheduler
                log.exception("scheduled job failed")
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
