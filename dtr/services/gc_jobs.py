"""Garbage collection as a job: start one in the background, see the one running, the
history and the last savings; the scheduler's cron trigger. The collection itself is
`dtr/gc.py`. Callers check who may do this (administrators)."""

import logging
import threading
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from ..database import db
from ..errors import JobRunning
from ..gc import LEASE, begin_run, execute_run, run_garbage_collection
from ..models import GcRun
from . import audit
from .gc_settings import gc_settings, next_runs
from .job_runs import count_jobs, find_job, job_history, running_job

log = logging.getLogger("dtr.gc")
SCHEDULE = "schedule"  # scheduled runs: "schedule:<UTC time>"


def start_gc(triggered_by, dry_run=False, actor=None) -> GcRun:
    """Begin a collection and run it in a background thread; returns the run (state
    running). JobRunning when one runs already, in this process or another.
    `triggered_by` is what the history shows (such as "api:admin", "web:admin");
    `actor`, the user name for the audit log."""
    run = begin_run(triggered_by, dry_run)
    audit.record(actor, "gc.start", "garbageCollection", {"job": run.id, "dryRun": dry_run})
    db.session.commit()
    app = current_app._get_current_object()
    threading.Thread(
        target=_run_in_background, args=(app, run.id), name=f"dtr-gc-{run.id}", daemon=True
    ).start()
    return run


def _run_in_background(app, run_id):
    with app.app_context():
        try:
            execute_run(run_id)
        finally:
            db.session.remove()


def current_run() -> GcRun | None:
    """The run in progress (in any process sharing the database), if any."""
    return running_job(GcRun, LEASE)


def gc_history(limit=20, start=0) -> list[GcRun]:
    """Runs, newest first."""
    return job_history(GcRun, limit, start)


def count_runs() -> int:
    return count_jobs(GcRun)


def find_run(run_id) -> GcRun:
    return find_job(GcRun, run_id, "garbage collection job")


def last_savings() -> GcRun | None:
    """The last collection that finished and deleted for real (not a dry run)."""
    return db.session.scalar(
        select(GcRun)
        .where(GcRun.state == "done", GcRun.dry_run.is_(False))
        .order_by(GcRun.id.desc())
        .limit(1)
    )


@dataclass
class ScheduleState:
    """What the scheduler thread remembers between ticks."""

    schedule: str | None = None  # None: not looked at yet
    next_due: object = None  # naive UTC datetime, or None without a schedule
    postponed: object = None  # the due time waiting for a running collection to end


def run_scheduled_gc_if_due(state: ScheduleState, now) -> GcRun | None:
    """One scheduler tick at `now` (naive UTC): when the schedule's next time has come, run
    a collection in this thread, triggered by "schedule:<that time>" (once: another process
    sharing the database may have run it already). While another collection runs (started
    by hand, or this time's by another process), the time waits for the next tick, so a
    collection that ran over the time does not make it skipped. A new or changed schedule
    counts from `now`."""
    schedule = gc_settings().schedule
    if schedule != state.schedule:
        if schedule:
            state.next_due = next_runs(schedule, now, 1)[0]
            log.info(
                "garbage collection schedule %s: next at %sZ", schedule, state.next_due.isoformat()
            )
        elif state.schedule:
            state.next_due = None
            log.info("garbage collection schedule %s removed", state.schedule)
        state.schedule = schedule
        return None
    if state.next_due is None or now < state.next_due:
        return None
    due, state.next_due = state.next_due, next_runs(schedule, now, 1)[0]
    try:
        run = run_garbage_collection(triggered_by=scheduled_trigger(due), once=True)
    except JobRunning:
        if state.postponed != due:
            log.info("scheduled garbage collection of %sZ waits: one is running", due.isoformat())
        state.next_due = state.postponed = due  # tried again at the next tick
        return None
    state.postponed = None
    if run is None:
        log.info("scheduled garbage collection of %sZ: another process ran it", due.isoformat())
    return run


def scheduled_trigger(due) -> str:
    """What a scheduled run's `triggered_by` says: the time it was scheduled for."""
    return f"{SCHEDULE}:{due.isoformat()}Z"
