"""Periodic jobs that run once per interval across every process and replica sharing the
database (the LDAP sync, housekeeping), whatever number of scheduler threads tick.

The job's lease (`job_leases.py`, named `periodic:<job>`) is taken for the whole interval and
never released: whoever takes it runs the job, and nobody else can until the interval has
passed. A process that dies mid-job leaves the next run to whichever process ticks after
the interval.
"""

from ..database import db, write_transaction
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
