"""Replication runs: queued, executed, remembered.

A run is queued by a push (a recorder of push events, in the push's own transaction: a
push that commits has its replication queued, one that fails has none), by a rule's cron
schedule (the scheduler thread, once per due time across replicas), or by an admin (run
now, retry). One worker thread per process executes queued runs: a run is claimed by one
UPDATE only one process can win, with a lease that each artifact renews; a process that
dies mid-run leaves the lease to expire and another takes the run again (what was copied
is then skipped).

Each artifact is tried REPLICATION_ATTEMPTS times (waiting REPLICATION_RETRY_SECONDS,
doubled each time) and recorded as an item: copied, skipped (the other side had it) or
failed with the error. A run with a failed item ends `failed`; `retry` queues it again.
"""

import logging
import threading
import time
from datetime import timedelta

import requests
from flask import current_app
from sqlalchemy import delete, or_, select, update

from ..database import db, write_transaction
from ..errors import DomainError, InvalidInput, JobUnknown
from ..models import Manifest, ReplicationItem, ReplicationRule, ReplicationRun, utcnow
from ..names import row_id
from ..storage.driver import StorageError
from . import events
from .callers import require_admin
from .periodic_jobs import take_scheduled_time
from .replication_pull import PullCopy
from .replication_push import SIGNATURE_TAG, PushCopy
from .replication_rules import PUSH, get_rule, matches, push_rules, refresh_push_rules
from .repositories import find_repository

log = logging.getLogger("dtr.replication")
LEASE_SECONDS = 300  # renewed after each artifact
MAX_ERROR = 1000
HISTORY_ITEMS = 500  # items shown of one run
_wakeup = threading.Event()
FAILURES = (DomainError, StorageError, requests.RequestException, OSError)


def wake():
    _wakeup.set()


# Queueing


@events.records(events.TAG_CREATE, events.TAG_MOVE, events.MANIFEST_PUSH)
def queue_pushed(event):
    """Queue a run of each push rule (on push, enabled) that covers what was pushed: a tag,
    or a referrer pushed by digest (tags come as their own events). A cosign signature tag
    goes whatever the tag patterns say, as its subject's would."""
    if not event.repository:
        return
    rules = [rule for rule in push_rules() if matches(rule.repositories, event.repository)]
    if not rules:
        return
    tag = digest = None
    if event.kind == events.MANIFEST_PUSH:
        if not _is_referrer(event.repository, event.digest):
            return
        digest = event.digest
    else:
        tag = event.tag
    for rule in rules:
        wanted = digest or SIGNATURE_TAG.match(tag) or matches(rule.tags, tag)
        if wanted and not _queued(rule.id, event.repository, tag, digest):
            db.session.add(_new_run(rule.id, "push", event.actor, event.repository, tag, digest))


@events.listens(events.TAG_CREATE, events.TAG_MOVE, events.MANIFEST_PUSH)
def _wake_worker(event):
    if push_rules():
        wake()


def _is_referrer(full_name, digest) -> bool:
    repository = find_repository(full_name)
    if repository is None or not digest:
        return False
    subject = db.session.scalar(
        select(Manifest.subject_digest).where(
            Manifest.repository_id == repository.id, Manifest.digest == digest
        )
    )
    return subject is not None


def _queued(rule_id, repository, tag, digest) -> bool:
    """A run of the same scope waits already (a burst of pushes queues one)."""
    return (
        db.session.scalar(
            select(ReplicationRun.id)
            .where(
                ReplicationRun.rule_id == rule_id,
                ReplicationRun.state == "queued",
                ReplicationRun.repository.is_(None)
                if repository is None
                else ReplicationRun.repository == repository,
                ReplicationRun.tag.is_(None) if tag is None else ReplicationRun.tag == tag,
                ReplicationRun.digest.is_(None)
                if digest is None
                else ReplicationRun.digest == digest,
            )
            .limit(1)
        )
        is not None
    )


def run_now(actor, rule_name) -> ReplicationRun:
    """Queue a whole run of the rule (an admin's "run now")."""
    rule = get_rule(actor, rule_name)
    return _queue(rule.id, "manual", actor.name)


def retry_run(actor, run_id) -> ReplicationRun:
    """Queue again what a finished run covered."""
    run = get_run(actor, run_id)
    if run.state in ("queued", "running"):
        raise InvalidInput(f"run {run.id} has not finished", {"run": run.id})
    return _queue(run.rule_id, "retry", actor.name, run.repository, run.tag, run.digest)


def _new_run(rule_id, trigger, actor_name, repository=None, tag=None, digest=None):
    return ReplicationRun(
        rule_id=rule_id,
        trigger=trigger,
        triggered_by=actor_name,
        repository=repository,
        tag=tag,
        digest=digest,
        queued_at=utcnow(),
    )


def _queue(rule_id, trigger, actor_name, repository=None, tag=None, digest=None):
    with write_transaction():
        run = _new_run(rule_id, trigger, actor_name, repository, tag, digest)
        db.session.add(run)
    wake()
    return run


def queue_scheduled(now) -> int:
    """A scheduler tick at `now` (naive UTC): queue a run of each enabled rule whose cron
    schedule's latest time has come since it was last queued on schedule (and since the rule
    changed), once across every process (a lease per rule until its next time)."""
    queued = 0
    rules = db.session.execute(
        select(ReplicationRule.id, ReplicationRule.schedule, ReplicationRule.updated_at).where(
            ReplicationRule.schedule != "", ReplicationRule.enabled.is_(True)
        )
    ).all()
    for rule_id, schedule, updated_at in rules:
        last = db.session.scalar(
            select(ReplicationRun.queued_at)
            .where(ReplicationRun.rule_id == rule_id, ReplicationRun.trigger == "schedule")
            .order_by(ReplicationRun.id.desc())
            .limit(1)
        )
        lease = f"replication:{rule_id}"
        if take_scheduled_time(lease, schedule, now, last, updated_at) is not None:
            _queue(rule_id, "schedule", None)
            queued += 1
    db.session.commit()
    return queued


# Executing


def start_replication_worker(app) -> threading.Thread:
    thread = threading.Thread(target=_work, args=(app,), name="dtr-replication", daemon=True)
    thread.start()
    return thread


def _work(app):
    poll = app.config["REPLICATION_POLL_SECONDS"]
    while True:
        _wakeup.wait(poll)
        _wakeup.clear()
        with app.app_context():
            try:
                refresh_push_rules()
                while run_next():
                    pass
            except Exception:  # noqa: BLE001 - the worker outlives any one failure
                log.exception("replication failed")
            finally:
                db.session.remove()


def run_next(now=None) -> bool:
    """Claim the oldest queued run (or one whose process died) and execute it; whether
    there was one."""
    now = now or utcnow()
    claimable = or_(
        ReplicationRun.state == "queued",
        (ReplicationRun.state == "running") & (ReplicationRun.lease_until < now),
    )
    run_id = db.session.scalar(
        select(ReplicationRun.id).where(claimable).order_by(ReplicationRun.id).limit(1)
    )
    db.session.rollback()
    if run_id is None:
        return False
    with write_transaction():
        claimed = db.session.execute(
            update(ReplicationRun)
            .where(ReplicationRun.id == run_id, claimable)
            .values(state="running", started_at=now, lease_until=_lease_end())
        )
    if claimed.rowcount == 1:
        try:
            execute(run_id)
        except Exception as failure:  # noqa: BLE001 - the run ends, failed, whatever happened
            log.exception("replication run %s failed", run_id)
            db.session.rollback()
            _finish(run_id, _text(failure))
    return True


def _lease_end():
    return utcnow() + timedelta(seconds=LEASE_SECONDS)


def execute(run_id):
    """Copy what the run covers, recording each artifact."""
    run = db.session.get(ReplicationRun, run_id)
    rule = db.session.get(ReplicationRule, run.rule_id) if run else None
    if run is None or rule is None:
        return
    copier = (PushCopy if rule.direction == PUSH else PullCopy)(rule)
    error = None
    try:
        artifacts = copier.plan(run)
    except Exception as failure:  # noqa: BLE001 - recorded as the run's error
        artifacts, error = [], _text(failure)
        log.warning("replication rule %s: %s", rule.name, error, exc_info=True)
    db.session.rollback()
    for artifact in artifacts:
        _copy_with_retries(run_id, copier, artifact)
    _finish(run_id, error)


def _finish(run_id, error):
    """End the run and publish `replication.finish` with its outcome."""
    with write_transaction():
        run = db.session.get(ReplicationRun, run_id)
        run.finished_at = utcnow()
        run.lease_until = None
        run.error = error
        run.state = "failed" if error or run.failed else "succeeded"
        rule = rule_of(run)
        outcome = {
            "rule": rule.name,
            "direction": rule.direction,
            "run": run.id,
            "trigger": run.trigger,
            "state": run.state,
            "copied": run.copied,
            "skipped": run.skipped,
            "failed": run.failed,
            "bytes": run.bytes,
            "error": error,
        }
        events.publish(events.Event(events.REPLICATION_FINISH, None, detail=outcome))
    log.info(
        "replication rule %s run %s %s: %s copied, %s skipped, %s failed",
        *(outcome[key] for key in ("rule", "run", "state", "copied", "skipped", "failed")),
    )


def _copy_with_retries(run_id, copier, artifact):
    attempts = current_app.config["REPLICATION_ATTEMPTS"]
    wait = current_app.config["REPLICATION_RETRY_SECONDS"]
    for attempt in range(1, attempts + 1):
        try:
            copied = copier.copy(artifact)
        except Exception as failure:  # noqa: BLE001 - recorded; the run goes on
            db.session.rollback()
            if not isinstance(failure, FAILURES):
                log.exception("replication of %s:%s failed", *artifact.__dict__.values())
            error = _text(failure)
            if attempt < attempts:
                time.sleep(wait * 2 ** (attempt - 1))
                continue
            _record(run_id, artifact, "failed", None, 0, attempt, error)
            log.warning("replication of %s:%s failed: %s", *artifact.__dict__.values(), error)
            return
        db.session.rollback()
        _record(run_id, artifact, copied.outcome, copied.digest, copied.bytes, attempt, None)
        return


def _record(run_id, artifact, outcome, digest, size, attempts, error):
    with write_transaction():
        db.session.add(
            ReplicationItem(
                run_id=run_id,
                repository=artifact.repository,
                reference=artifact.reference,
                digest=digest,
                outcome=outcome,
                attempts=attempts,
                bytes=size,
                error=error,
                at=utcnow(),
            )
        )
        counter = getattr(ReplicationRun, outcome)  # the run's count of this outcome
        db.session.execute(
            update(ReplicationRun)
            .where(ReplicationRun.id == run_id)
            .values(
                {
                    outcome: counter + 1,
                    "bytes": ReplicationRun.bytes + size,
                    "lease_until": _lease_end(),
                }
            )
        )


def _text(failure) -> str:
    text = getattr(failure, "message", None) or f"{type(failure).__name__}: {failure}"
    return text[:MAX_ERROR]


# History


def list_runs(actor, rule_name, limit=50) -> list[ReplicationRun]:
    rule = get_rule(actor, rule_name)
    return list(
        db.session.scalars(
            select(ReplicationRun)
            .where(ReplicationRun.rule_id == rule.id)
            .order_by(ReplicationRun.id.desc())
            .limit(limit)
        )
    )


def get_run(actor, run_id) -> ReplicationRun:
    require_admin(actor, "see replication runs")
    number = row_id(run_id)
    run = db.session.get(ReplicationRun, number) if number is not None else None
    if run is None:
        raise JobUnknown(f"there is no replication run {str(run_id)[:30]}")
    return run


def rule_of(run) -> ReplicationRule:
    return db.session.get(ReplicationRule, run.rule_id)


def run_items(run) -> list[ReplicationItem]:
    return list(
        db.session.scalars(
            select(ReplicationItem)
            .where(ReplicationItem.run_id == run.id)
            .order_by(ReplicationItem.id)
            .limit(HISTORY_ITEMS)
        )
    )


def last_runs(rule_ids) -> dict[int, ReplicationRun]:
    """The latest run of each rule."""
    latest = (
        select(ReplicationRun.rule_id, db.func.max(ReplicationRun.id).label("id"))
        .where(ReplicationRun.rule_id.in_(list(rule_ids)))
        .group_by(ReplicationRun.rule_id)
        .subquery()
    )
    runs = db.session.scalars(select(ReplicationRun).join(latest, latest.c.id == ReplicationRun.id))
    return {run.rule_id: run for run in runs}


def forget_old_runs(now=None) -> int:
    """Finished runs older than REPLICATION_HISTORY_DAYS go, with their items."""
    days = current_app.config["REPLICATION_HISTORY_DAYS"]
    cutoff = (now or utcnow()) - timedelta(days=days)
    with write_transaction():
        gone = db.session.execute(
            delete(ReplicationRun).where(
                ReplicationRun.finished_at.is_not(None), ReplicationRun.finished_at < cutoff
            )
        )
    return gone.rowcount
