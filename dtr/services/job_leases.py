"""Leases: a job that must run once at a time, also across several DTR processes sharing a
database, holds a row of `job_leases` until it ends or the lease expires (its process died).

Taking one is a conditional UPDATE (free or expired, or ours already) and, when no row
exists, an INSERT .. ON CONFLICT DO NOTHING: both are atomic in SQLite (one writer) and in
PostgreSQL (row locks), so two takers never both win. These functions join the caller's
write transaction; the caller commits.

Each take, renewal, loss and release is also recorded in the metrics (`dtr_job_lease_*`)
as this process saw it, before the caller commits.
"""

import os
import socket
import time
import uuid
from datetime import timedelta

from sqlalchemy import delete, or_, select, update

from ..database import db, dialect_insert
from ..metrics.instruments import record_lease, record_lease_taken
from ..models import JobLease, utcnow


def new_holder() -> str:
    """A name for one holder: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def take_lease(name, holder, seconds) -> bool:
    """Take the lease if it is free, expired or already `holder`'s."""
    now = utcnow()
    expires = now + timedelta(seconds=seconds)
    taken = db.session.execute(
        update(JobLease)
        .where(JobLease.name == name, or_(JobLease.expires_at < now, JobLease.holder == holder))
        .values(holder=holder, expires_at=expires)
    ).rowcount
    if not taken:
        taken = db.session.execute(  # RETURNING: an ORM insert's rowcount is -1 on psycopg
            dialect_insert(JobLease)
            .values(name=name, holder=holder, expires_at=expires)
            .on_conflict_do_nothing()
            .returning(JobLease.name)
        ).first()
    if taken:
        record_lease_taken(name, time.time() + seconds)
    return bool(taken)


def renew_lease(name, holder, seconds) -> bool:
    """Extend `holder`'s lease; False when it is no longer theirs."""
    expires = utcnow() + timedelta(seconds=seconds)
    renewed = bool(
        db.session.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.holder == holder)
            .values(expires_at=expires)
        ).rowcount
    )
    record_lease(name, time.time() + seconds if renewed else None, lost=not renewed)
    return renewed


def release_lease(name, holder):
    db.session.execute(delete(JobLease).where(JobLease.name == name, JobLease.holder == holder))
    record_lease(name, None)


def lease_holder(name) -> str | None:
    """Who holds the lease now (None: free or expired)."""
    row = db.session.execute(
        select(JobLease.holder, JobLease.expires_at).where(JobLease.name == name)
    ).first()
    if row is None or row.expires_at < utcnow():
        return None
    return row.holder
