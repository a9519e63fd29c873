"""Periodic jobs that run once per interval across every process and replica sharing the
database (the LDAP sync, housekeeping), whatever number of scheduler threads tick.

The job's lease (`job_leases.py`, named `periodic:<job>`) is taken for the whole interval and
never released: whoever takes it runs the job, and nobody else can until the interval has
passed. A process that dies mid-job leaves the next run to whichever process ticks after
the interval.
"""

from datetime import datetime

from ..database import db, write_transaction
from .gc_settings import next_runs, previous_run
from .job_leases import lease_holder, new_holder, take_lease


def run_once_per_interval(name: str, interval_seconds: float, job) -> bool:
    """Run `job()` unless it ran (here or in another process) less than `interval_seconds`
    ago; whether it ran."""
    lease = f"periodic:{name}"
    if lease_holder(lease) is not None:  # a read: most ticks stop here without writing
        db.session.commit()
        return False
    with write_transaction():
        taken = take_lease(lease, new_holder(), interval_seconds)
    if taken:
        job()
    return taken


def take_scheduled_time(lease, schedule, now, last, changed_at) -> datetime | None:
    """The cron `schedule`'s latest time at or before `now` (naive UTC) when it is due: it
    came after `last` (the latest run on schedule, or None) and after `changed_at`, and this
    process took the lease `lease` (held until the schedule's next time, so that one process
    across every replica runs it); else None."""
    due, following = previous_run(schedule, now), next_runs(schedule, now, 1)[0]
    if due < changed_at or (last is not None and last >= due):
        return None
    with write_transaction():
        taken = take_lease(lease, new_holder(), (following - now).total_seconds())
    return due if taken else None
