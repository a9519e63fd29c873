"""Storage verification (zot's "scrub"): read back every blob the database knows from the
storage backend in use, hash it, and quarantine those whose bytes are missing or are not
their digest's, so that pulls answer BLOB_UNKNOWN instead of sending wrong bytes and the
next push of the content heals them (`services/blobs.py`).

- Streamed, flat memory: blobs are read in chunks (STREAM_CHUNK_BYTES), a few at a time by
  a small pool of threads (hashing and reading let go of the GIL); the rows are read in
  pages of BATCH by digest, and the report keeps at most REPORT_LIMIT blobs.
- Safe while people push: a blob is quarantined only if its row was not touched since it
  was read (a push or mount moves the touch time), so a push that healed it meanwhile is
  never undone; one that changed is looked at again. A quarantined blob whose bytes are
  found whole again (restored from a backup) is released. Blobs collected meanwhile are
  skipped (their row is gone).
- One verification at a time, across every process sharing the database: a run holds the
  `storage-verify` lease, renewed while it runs. Each run is a `StorageVerification` row
  (progress while it runs, the report after), started and finished in the audit log and
  logged by the storage component.
- Garbage collection treats a quarantined blob like any other: collected when no manifest
  needs it, kept (still quarantined, listed by the next verification) while one does.

Callers check who may do this (administrators).
"""

import functools
import hashlib
import json
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select, update

from ..database import db
from ..models import (
    Blob,
    Manifest,
    ManifestReference,
    Repository,
    RepositoryBlob,
    StorageVerification,
    Tag,
    utcnow,
)
from ..storage import PathNotFound, StorageError, current_storage
from ..storage.layout import blob_path
from . import audit, events, lookup_caches
from .blobs import quarantine_blob
from .job_leases import renew_lease
from .job_runs import (
    JobWork,
    claim_job,
    count_jobs,
    find_job,
    finish_job,
    job_history,
    running_job,
)
from .storage_settings import active_config

log = logging.getLogger("dtr.storage")
LEASE = "storage-verify"
LEASE_SECONDS = 120
RENEW_SECONDS = 20
PROGRESS_SECONDS = 1.0
BATCH = 500
REPORT_LIMIT = 1000  # damaged blobs listed in a run's report
NEEDED_BY_LIMIT = 50  # repositories and tags listed for each
DEFAULT_WORKERS = 2


class LeaseLost(Exception):
    """Another holder took the lease (this run stalled past its expiry)."""


# --- the job: start, follow, history ---------------------------------------------------------


def start_verification(triggered_by, actor=None) -> StorageVerification:
    """Begin a verification and run it in a background thread; returns the run (state
    running). JobRunning when one runs already, in this process or another."""
    run = begin_verification(triggered_by, actor)
    app = current_app._get_current_object()
    threading.Thread(
        target=_run_in_background,
        args=(app, run.id, actor),
        name=f"dtr-verify-{run.id}",
        daemon=True,
    ).start()
    return run


def _run_in_background(app, run_id, actor):
    with app.app_context():
        try:
            execute_verification(run_id, actor=actor)
        finally:
            db.session.remove()


def begin_verification(triggered_by, actor=None) -> StorageVerification:
    """Take the lease, record the run (state running) and audit it; JobRunning if the lease
    is held. `actor`: the user name (None: the command line)."""
    holder = claim_job(
        StorageVerification, LEASE, LEASE_SECONDS, "a storage verification is running already"
    )
    run = StorageVerification(
        triggered_by=triggered_by,
        state="running",
        phase="starting",
        holder=holder,
        backend=describe_backend(),
        started_at=utcnow(),
    )
    db.session.add(run)
    db.session.flush()
    audit.record(actor, "storage.verify", "storage", {"job": run.id, "backend": run.backend})
    log.info("storage verification %s started (%s) on %s", run.id, triggered_by, run.backend)
    db.session.commit()
    return run


def describe_backend() -> str:
    """The backend in use and its place (never a secret)."""
    config = active_config()
    options = config.options
    place = options.get("rootDirectory") or options.get("bucket") or options.get("container")
    return f"{config.backend} ({place})" if place else config.backend


# the run in progress (any process), the runs newest first, how many, one by id
current_verification = functools.partial(running_job, StorageVerification, LEASE)
verification_history = functools.partial(job_history, StorageVerification)
count_verifications = functools.partial(count_jobs, StorageVerification)
find_verification = functools.partial(find_job, StorageVerification, noun="storage verification")


def report_of(run) -> dict:
    """A run's report: {"blobs": [...], "truncated": bool} (empty while it runs)."""
    try:
        return json.loads(run.report or "{}") or {"blobs": [], "truncated": False}
    except ValueError:
        return {"blobs": [], "truncated": False}


def errors_of(run) -> list:
    try:
        return json.loads(run.errors or "[]")
    except ValueError:
        return []


# --- the verification ------------------------------------------------------------------------


def execute_verification(run_id, workers=DEFAULT_WORKERS, actor=None, progress=None):
    """Run a begun verification to its end, record the outcome and release the lease.
    `progress(scrub)` is called at each checkpoint (the command line prints it)."""
    run = db.session.get(StorageVerification, run_id)
    scrub = Scrub(run, workers, progress)
    db.session.commit()
    state = scrub.run_to_the_end()
    outcome = scrub.outcome()
    detail = {"job": run_id, "state": state, **{k: scrub.counts[k] for k in FOUND}}
    detail.update(blobsChecked=outcome["blobs_checked"], bytesChecked=outcome["bytes_checked"])
    run = finish_job(
        StorageVerification,
        LEASE,
        run_id,
        scrub.holder,
        state,
        event=events.Event(events.STORAGE_VERIFIED, actor, detail=detail),
        report=json.dumps(scrub.report),
        **outcome,
    )
    logged = log.warning if run.corrupt or run.missing or state != "done" else log.info
    logged(
        "storage verification %s %s: %s of %s blobs checked (%s bytes), %s corrupt, "
        "%s missing, %s released from quarantine",
        run_id,
        state,
        run.blobs_checked,
        run.blobs_total,
        run.bytes_checked,
        run.corrupt,
        run.missing,
        run.restored,
    )
    return run


FOUND = ("corrupt", "missing", "restored")


@dataclass(frozen=True)
class Finding:
    """What reading one blob back found: `problem` None (whole), "missing", "corrupt" or
    "unreadable" (the backend failed: not the blob's fault, so not quarantined)."""

    problem: str | None
    detail: str = ""


def check_blob(storage, digest, size, chunk, counted=None) -> Finding:
    """Read a blob back from storage and hash it, a chunk at a time. `counted(n)` is told
    of each chunk read."""
    path = blob_path(digest)
    algorithm, expected = digest.split(":", 1)
    try:
        stored = storage.stat(path)
        if stored is None:
            return Finding("missing", f"no object at {path}")
        if stored != size:
            return Finding("corrupt", f"size {stored} on storage, {size} recorded")
        state = hashlib.new(algorithm)
        read = 0
        with storage.reader(path) as stream:
            while data := stream.read(chunk):
                state.update(data)
                read += len(data)
                if counted is not None:
                    counted(len(data))
    except PathNotFound:
        return Finding("missing", f"no object at {path}")
    except StorageError as error:
        return Finding("unreadable", str(error))
    if read != size:
        return Finding("corrupt", f"{read} bytes read, {size} recorded")
    actual = state.hexdigest()
    if actual != expected:
        return Finding("corrupt", f"the stored bytes hash to {algorithm}:{actual}")
    return Finding(None)


class Scrub(JobWork):
    """One run's work, tallies and report."""

    noun = "storage verification"
    logger = log.name

    def __init__(self, run: StorageVerification, workers, progress=None):
        self.run_id = run.id
        self.holder = run.holder
        self.workers = max(1, int(workers))
        self.progress = progress
        self.storage = current_storage()
        self.chunk = current_app.config["STREAM_CHUNK_BYTES"]
        self.counts = {"blobs": 0, "bytes": 0, "corrupt": 0, "missing": 0, "restored": 0}
        self.totals = (0, 0)
        self.read = 0  # bytes read so far, blobs being read included
        self.read_lock = threading.Lock()
        self.errors: list[str] = []
        self.report = {"blobs": [], "truncated": False}
        self.renewed = self.reported = time.monotonic()

    def run(self):
        self.totals = tuple(
            db.session.execute(select(func.count(), func.coalesce(func.sum(Blob.size), 0))).one()
        )
        self.checkpoint("checking blobs")
        pending = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="dtr-verify") as pool:
            for row in self._rows():
                job = pool.submit(
                    check_blob, self.storage, row.digest, row.size, self.chunk, self._counted
                )
                pending.append((row, job))
                while len(pending) >= 2 * self.workers:
                    self.settle(*pending.popleft())
            while pending:
                self.settle(*pending.popleft())
        self.checkpoint("finishing")

    def _rows(self):
        """The blobs' rows by digest, a page at a time; no transaction stays open between
        pages."""
        last = ""
        while True:
            page = db.session.execute(
                select(Blob.digest, Blob.size, Blob.touched_at, Blob.quarantine)
                .where(Blob.digest > last)
                .order_by(Blob.digest)
                .limit(BATCH)
            ).all()
            db.session.rollback()
            if not page:
                return
            yield from page
            last = page[-1].digest

    def _counted(self, size):
        with self.read_lock:
            self.read += size

    def settle(self, row, job):
        """Wait for one blob's finding (checkpointing meanwhile: a large blob may take
        minutes) and act on it."""
        while True:
            try:
                finding = job.result(timeout=PROGRESS_SECONDS)
                break
            except FutureTimeout:
                self.checkpoint_if_due()
        self.counts["blobs"] += 1
        self.counts["bytes"] += row.size
        if finding.problem == "unreadable":
            self.error(f"blob {row.digest}: {finding.detail}")
        elif finding.problem is None:
            if row.quarantine is not None and self._release(row):
                self.counts["restored"] += 1
        else:
            self._damaged(row, finding)
        self.checkpoint_if_due()

    def _damaged(self, row, finding):
        if row.quarantine is None:
            reason = f"{finding.problem}: {finding.detail} (storage verification {self.run_id})"
            if not quarantine_blob(row.digest, reason, row.touched_at):
                row, finding = self._look_again(row.digest)
                if finding is None or finding.problem in (None, "unreadable"):
                    return  # collected, healed, or not the blob's fault after all
                reason = f"{finding.problem}: {finding.detail} (storage verification {self.run_id})"
                if row.quarantine is None and not quarantine_blob(
                    row.digest, reason, row.touched_at
                ):
                    self.error(f"blob {row.digest} changed while it was verified: look again")
                    return
        self.counts[finding.problem] += 1
        if len(self.report["blobs"]) >= REPORT_LIMIT:
            self.report["truncated"] = True
            return
        repositories, tags = needed_by(row.digest)
        self.report["blobs"].append(
            {
                "digest": row.digest,
                "size": row.size,
                "problem": finding.problem,
                "detail": finding.detail,
                "repositories": repositories,
                "tags": tags,
            }
        )

    def _look_again(self, digest):
        """(row, finding) of a blob whose row changed since it was read; (None, None) when
        it was collected meanwhile."""
        row = db.session.execute(
            select(Blob.digest, Blob.size, Blob.touched_at, Blob.quarantine).where(
                Blob.digest == digest
            )
        ).first()
        db.session.rollback()
        if row is None:
            return None, None
        return row, check_blob(self.storage, digest, row.size, self.chunk, self._counted)

    def _release(self, row) -> bool:
        """A quarantined blob whose bytes are whole again (restored): released, unless its
        row changed since it was read (a push healed it: nothing to do)."""
        released = db.session.execute(
            update(Blob)
            .where(Blob.digest == row.digest, Blob.touched_at == row.touched_at)
            .where(Blob.quarantine.is_not(None))
            .values(quarantine=None)
        ).rowcount
        db.session.commit()
        if released:
            lookup_caches.blob_links.clear()
            log.info("blob %s released from quarantine: its stored bytes are whole", row.digest)
        return bool(released)

    # --- bookkeeping ----------------------------------------------------------------------

    def outcome(self) -> dict:
        return {
            "blobs_total": self.totals[0],
            "bytes_total": self.totals[1],
            "blobs_checked": self.counts["blobs"],
            "bytes_checked": max(self.read, self.counts["bytes"]),
            "corrupt": self.counts["corrupt"],
            "missing": self.counts["missing"],
            "restored": self.counts["restored"],
            "errors": json.dumps(self.errors),
        }

    def checkpoint_if_due(self):
        if time.monotonic() - self.reported >= PROGRESS_SECONDS:
            self.checkpoint(f"checking blobs: {self.counts['blobs']} of {self.totals[0]}")

    def checkpoint(self, phase):
        """Record progress (one short write transaction); renew the lease when due
        (LeaseLost if another holder has it)."""
        db.session.execute(
            update(StorageVerification)
            .where(StorageVerification.id == self.run_id)
            .values(phase=phase, **self.outcome())
        )
        if time.monotonic() - self.renewed >= RENEW_SECONDS:
            if not renew_lease(LEASE, self.holder, LEASE_SECONDS):
                db.session.rollback()
                raise LeaseLost("the storage verification lease was taken by another holder")
            self.renewed = time.monotonic()
        db.session.commit()
        self.reported = time.monotonic()
        if self.progress is not None:
            self.progress(self)


def needed_by(digest) -> tuple[list, list]:
    """(repositories that link the blob, tags `ns/repo:tag` whose image needs it: tags of
    the manifests that name it and of the indexes that list those), at most NEEDED_BY_LIMIT
    of each."""
    repositories = sorted(
        repository.full_name
        for repository in db.session.scalars(
            select(Repository)
            .join(RepositoryBlob, RepositoryBlob.repository_id == Repository.id)
            .where(RepositoryBlob.digest == digest)
            .limit(NEEDED_BY_LIMIT)
        )
    )
    manifests = db.session.execute(
        select(Manifest.id, Manifest.repository_id, Manifest.digest)
        .join(ManifestReference, ManifestReference.manifest_id == Manifest.id)
        .where(ManifestReference.kind == "blob", ManifestReference.digest == digest)
    ).all()
    ids = {row.id for row in manifests}
    if manifests:
        ids |= set(
            db.session.scalars(
                select(Manifest.id)
                .join(ManifestReference, ManifestReference.manifest_id == Manifest.id)
                .where(
                    ManifestReference.kind == "manifest",
                    ManifestReference.digest.in_({row.digest for row in manifests}),
                    Manifest.repository_id.in_({row.repository_id for row in manifests}),
                )
            )
        )
    tags = []
    if ids:
        for tag, repository in db.session.execute(
            select(Tag.name, Repository)
            .join(Repository, Repository.id == Tag.repository_id)
            .where(Tag.manifest_id.in_(ids))
            .limit(NEEDED_BY_LIMIT)
        ):
            tags.append(f"{repository.full_name}:{tag}")
    db.session.rollback()
    return repositories, sorted(tags)
