"""Runs of a job that runs once at a time across every process sharing the database (garbage
collection, storage verification): each is a row of a `JobRun` model (models.py), begun
under the job's lease (`job_leases.py`) and finished done or failed, releasing it.
"""

import json
import logging

from sqlalchemy import func, select, update

from ..database import db
from ..errors import JobRunning, JobUnknown
from ..models import utcnow
from . import events
from .job_leases import lease_holder, new_holder, release_lease, take_lease

INTERRUPTED = "interrupted: its process stopped before it finished"


def claim_job(model, lease, seconds, refusal) -> str:
    """Take the job's lease for a new holder (JobRunning(refusal) if another holds it) and
    mark the runs that a stopped process left running as failed. Returns the holder; the
    caller adds its run and commits."""
    db.session.commit()
    holder = new_holder()
    if not take_lease(lease, holder, seconds):
        db.session.rollback()
        raise JobRunning(refusal)
    db.session.execute(
        update(model)
        .where(model.state == "running")
        .values(
            state="failed",
            phase="interrupted",
            finished_at=utcnow(),
            errors=json.dumps([INTERRUPTED]),
        )
    )
    return holder


class JobWork:
    """The work of one run: a subclass sets `noun` (what the job is called in log lines),
    `logger` (its component's logger), `run_id`, and `errors` (a list), and has `run()`."""

    noun = "job"
    logger = "dtr"
    ERROR_LIMIT = 100  # messages kept in the run (all are logged)

    def error(self, message):
        logging.getLogger(self.logger).warning("%s %s: %s", self.noun, self.run_id, message)
        if len(self.errors) < self.ERROR_LIMIT:
            self.errors.append(message)

    def run_to_the_end(self) -> str:
        """`run()`; "done", or "failed" after an exception (logged, the session rolled
        back, the error kept)."""
        try:
            self.run()
            return "done"
        except Exception as error:  # noqa: BLE001 - recorded in the run, which fails
            logging.getLogger(self.logger).exception("%s %s failed", self.noun, self.run_id)
            db.session.rollback()
            self.error(f"{type(error).__name__}: {error}")
            return "failed"


def finish_job(model, lease, run_id, holder, state, event=None, **values):
    """Record the end of a run (state done or failed, with its tallies) and release the
    lease; publishes `event` (events.py) with it; commits. Returns the run as stored."""
    db.session.execute(
        update(model)
        .where(model.id == run_id)
        .values(
            state=state,
            phase="finished" if state == "done" else "failed",
            finished_at=utcnow(),
            **values,
        )
    )
    release_lease(lease, holder)
    if event is not None:
        events.publish(event)
    db.session.commit()
    finished = db.session.get(model, run_id)
    db.session.refresh(finished)
    return finished


def running_job(model, lease):
    """The run in progress (in any process sharing the database), if any."""
    run = db.session.scalar(
        select(model).where(model.state == "running").order_by(model.id.desc()).limit(1)
    )
    if run is None or lease_holder(lease) != run.holder:
        return None  # its process stopped: the next run marks it failed
    return run


def job_history(model, limit=20, start=0) -> list:
    """Runs, newest first."""
    return list(
        db.session.scalars(select(model).order_by(model.id.desc()).offset(start).limit(limit))
    )


def count_jobs(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def find_job(model, run_id, noun):
    """A run by id; JobUnknown ("no <noun> <id>") if there is none."""
    run = db.session.get(model, run_id) if isinstance(run_id, int) else None
    if run is None:
        raise JobUnknown(f"no {noun} {run_id}", {"id": run_id})
    return run
