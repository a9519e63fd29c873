"""The in-process scheduler thread, one in each server process.

Every tick (SCHEDULER_TICK_SECONDS of the configuration, `TICK_SECONDS` by default): the
LDAP sync, every `sync_interval_minutes` while the auth mode is LDAP; garbage collection,
when its cron schedule (UTC) says so; retention policies and replication rules (queued for
the replication worker), when theirs do; every hour, forgetting failed logins that no longer
count, deleted tags that can no longer be restored and old replication runs. Each runs once
per due time across every process and replica sharing the database (leases:
`services/periodic_jobs.py`, and GC's own run rows). The clock and the sleep are
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

    gc_state = ScheduleState()
    tick = app.config.get("SCHEDULER_TICK_SECONDS", TICK_SECONDS)
    done = 0
    while ticks is None or done < ticks:
        sleep(tick)
        done += 1
        with app.app_context():
            try:
                _ldap_sync_if_due()
            except Exception:  # noqa: BLE001 - a failed job must not stop the scheduler
                log.exception("scheduled LDAP sync failed")
            try:
                _gc_if_due(gc_state, clock())
            except Exception:  # noqa: BLE001
                log.exception("scheduled garbage collection failed")
            try:
                _retention_if_due(clock())
            except Exception:  # noqa: BLE001
                log.exception("scheduled retention failed")
            try:
                _replication_if_due(clock())
            except Exception:  # noqa: BLE001
                log.exception("scheduled replication failed")
            try:
                _housekeeping_if_due()
            except Exception:  # noqa: BLE001
                log.exception("housekeeping failed")
            finally:
                from .database import db

                db.session.remove()


def _ldap_sync_if_due() -> bool:
    from .services.auth_settings import ldap_settings
    from .services.ldap_sync import sync_ldap
    from .services.periodic_jobs import run_once_per_interval
    from .services.settings import get_setting

    if get_setting("auth_mode") != "ldap":
        return False
    settings = ldap_settings()
    if settings is None:
        return False

    def sync():
        log.info("LDAP sync: %s", sync_ldap())

    return run_once_per_interval("ldap-sync", settings.sync_interval_minutes * 60, sync)


def _housekeeping_if_due() -> bool:
    from .auth.login_throttle import forget_old
    from .services.periodic_jobs import run_once_per_interval
    from .services.pull_through import evict_unpulled
    from .services.replication_runs import forget_old_runs
    from .services.tag_restore import forget_expired
    from .services.webhooks import forget_old_deliveries

    def housekeeping():
        forget_old()
        forget_expired()
        forget_old_deliveries()
        evict_unpulled()
        forget_old_runs()

    return run_once_per_interval("housekeeping", HOUSEKEEPING_SECONDS, housekeeping)


def _retention_if_due(now):
    from .services.retention import run_scheduled

    run_scheduled(now)


def _replication_if_due(now):
    from .services.replication_runs import queue_scheduled

    queue_scheduled(now)


def _gc_if_due(state, now):
    from .database import db
    from .services.gc_jobs import run_scheduled_gc_if_due

    db.session.rollback()  # whatever the LDAP job left open
    run = run_scheduled_gc_if_due(state, now)
    if run is not None:
        log.info("scheduled garbage collection %s: %s", run.id, run.state)
