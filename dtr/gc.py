"""Garbage collection: mark and sweep over the database, safe while pushes continue (no
read-only mode).

What is garbage
- A manifest is live when a tag points at it (or pointed at it, deleted within the restore
  window: services/tag_restore.py), when it is younger than the grace window
  (docker pushes an index's children by digest before the index), or when a live manifest
  keeps it: an index keeps the manifests it lists, a manifest keeps its referrers (the
  manifests whose subject it is: signatures, SBOMs; also those tagged in cosign's tag
  scheme `sha256-<hex>.sig|.att|.sbom`, which such a tag alone does not keep alive). Every
  other manifest is garbage when
  "delete untagged manifests" is on (the default); with it off, every manifest is live.
  Referrers of a collected manifest go with it.
- A blob is live when a live manifest of any repository references it (config, layers), or
  when it was touched (committed by an upload, linked by a mount) within the grace window.
  Other blobs go: their rows (`blobs`, `repository_blobs`) and their bytes. A blob
  quarantined by storage verification (`Blob.quarantine`: its bytes corrupt or missing) is
  judged the same way: collected when garbage, kept (still quarantined, so that a push of
  its content heals it and the next verification lists it again) while a manifest needs it.
- Upload sessions idle for longer than the grace window (at least an hour, so that a client
  between two chunks is never cut off) go with their bytes, and so do `uploads/mono-<time>-*`
  files of monolithic uploads that old (left by a crash) and upload files with no session.

How it stays safe while people push
The mark reads one consistent snapshot (a deferred read transaction: it never holds the
writer lock). The sweep then deletes in write transactions of a few hundred rows each and, in
each, checks again what may have changed since the mark. With SQLite one write transaction
runs at a time (in this process the `SerializedWriteConnection` lock, across processes
`BEGIN IMMEDIATE`); on PostgreSQL the same orders come from row locks, taken in the places
named below with SELECT .. FOR UPDATE / FOR SHARE (no-ops on SQLite).

1. An upload commits a blob (`services/blobs.store_blob`) in two steps: (a) the bytes move
   to `blobs/...` (or, when the same content is there already, the upload's copy stays
   aside as a spare); (b) one write transaction makes sure that the bytes are at their path
   (if not, it puts the spare there, or fails cleanly with BLOB_UNKNOWN: the client pushes
   again), creates or touches the blob's row and links it to the repository. The sweep (2)
   deletes bytes only of blobs that have a row, in its write transaction, and there moves a
   number (`services/blob_sweeps.py`) that the push read before (a). So (b), under the same
   write lock, never links a blob whose bytes are missing, and looks at the storage again
   only when that number moved (no storage round trip under the lock otherwise). A sweep
   between (a) and (b) can only hit moved bytes through a row of the same digest whose bytes
   were missing, and then (b) fails cleanly. A quarantined blob's row is touched (committed)
   before (a): a sweep keeps blobs touched within the grace window, so the healing copy is
   not swept.
2. The blob sweep, per batch, in one write transaction: lock the candidates' rows (PostgreSQL:
   FOR UPDATE), keep only those still untouched within the grace window and referenced by
   no manifest at all (the garbage manifests are deleted before, so any manifest still
   there counts as live), delete their bytes, then their rows, then commit.
3. A manifest PUT checks, inside its own write transaction, that every blob it names is
   linked to its repository and every manifest it lists exists (`services/manifests.
   _check_references`, FOR SHARE on PostgreSQL). Either it commits before a sweep
   transaction, which then sees its references and keeps the blobs, or after, and then it
   finds the rows gone and fails with MANIFEST_BLOB_UNKNOWN. It never commits a manifest
   pointing at a deleted blob. (The same check before that transaction only fails a bad
   push early.) A manifest the repository has already (pushed again, under a new tag) is
   not checked again in it: that transaction finds its row (FOR SHARE), or else stores it
   anew, checked; the blobs a manifest still there names are live (2), and so is a manifest
   tagged since the mark (4).
4. The manifest sweep, per batch, in one write transaction: lock the candidates (FOR UPDATE
   on PostgreSQL) and spare those that became live since the mark. Anything that made one
   live is new since the mark: a manifest created, or a tag created or moved (`updated_at`),
   whose reach (index entries, referrers) is walked from those recent roots in the same
   transaction. A later push that names a collected manifest fails with
   MANIFEST_BLOB_UNKNOWN, as in 3.

One collection at a time, across every process sharing the database: a run holds the
`registry-gc` lease (`services/job_leases.py`), renewed while it runs. Each run is a `GcRun`
row: when, why, state, what it deleted (or, for a dry run, would delete), errors.

A crash between deleting a batch's bytes and committing its rows leaves rows of blobs that
are no longer stored (they were unreferenced and untouched); the next run deletes them.
"""

import contextlib
import json
import logging
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, select, update

from .database import db, lock_rows_for_update, read_only_transactions
from .metrics.instruments import record_gc_run
from .models import (
    Blob,
    DeletedTag,
    GcRun,
    Manifest,
    ManifestReference,
    Repository,
    RepositoryBlob,
    Tag,
    Upload,
    utcnow,
)
from .services import blob_sweeps, events, lookup_caches
from .services.gc_settings import gc_settings
from .services.job_leases import renew_lease
from .services.job_runs import JobWork, claim_job, finish_job
from .services.uploads import monolithic_upload_started
from .storage import current_storage
from .storage.layout import UPLOADS, blob_path, upload_path

log = logging.getLogger("dtr.gc")
COSIGN_TAG = re.compile(r"^(sha256)-([a-f0-9]{64})\.(sig|att|sbom)$")

LEASE = "registry-gc"
LEASE_SECONDS = 120
RENEW_SECONDS = 20
BATCH = 2000
REPORT_LIMIT = 10_000  # entries of each kind listed in a run's report
UPLOAD_IDLE_MINIMUM = timedelta(hours=1)
RECENT_MARGIN = timedelta(minutes=5)  # clock skew between processes writing timestamps
MAX_PAUSE = 0.2  # seconds of rest between two write batches


class LeaseLost(Exception):
    """Another holder took the lease (this run stalled past its expiry)."""


def run_garbage_collection(dry_run=False, now=None, triggered_by="cli", once=False):
    """Collect now, in this thread, and return the run; JobRunning when a collection runs
    already. `now` (naive UTC) sets the clock of the grace window, for tests. With `once`,
    nothing happens (None) if a run was triggered by `triggered_by` before."""
    run = begin_run(triggered_by, dry_run, once)
    return None if run is None else execute_run(run.id, now=now)


def begin_run(triggered_by, dry_run, once=False) -> GcRun | None:
    """Take the lease and record the run (state running); JobRunning if the lease is held.
    With `once`: None if a run was triggered by `triggered_by` already (decided in the same
    transaction as the lease, so two processes never both run it)."""
    holder = claim_job(GcRun, LEASE, LEASE_SECONDS, "a garbage collection is running already")
    if once and db.session.scalar(
        select(GcRun.id).where(GcRun.triggered_by == triggered_by).limit(1)
    ):
        db.session.rollback()
        return None
    run = GcRun(
        triggered_by=triggered_by,
        dry_run=bool(dry_run),
        state="running",
        phase="starting",
        holder=holder,
        started_at=utcnow(),
    )
    db.session.add(run)
    db.session.commit()
    return run


def execute_run(run_id, now=None) -> GcRun:
    """Run a begun collection to its end, record the outcome, release the lease and publish
    `gc.finish` with it."""
    run = db.session.get(GcRun, run_id)
    collection = Collection(run, now or utcnow())
    db.session.commit()
    state = collection.run_to_the_end()
    outcome = collection.outcome()
    finished = events.Event(
        events.GC_FINISH,
        None,
        detail={
            "job": run_id,
            "state": state,
            "dryRun": run.dry_run,
            "triggeredBy": run.triggered_by,
            "seconds": round((utcnow() - run.started_at).total_seconds(), 3),
            "manifestsDeleted": outcome["manifests_deleted"],
            "blobsDeleted": outcome["blobs_deleted"],
            "bytesReclaimed": outcome["bytes_reclaimed"],
            "uploadsDeleted": outcome["uploads_deleted"],
        },
    )
    run = finish_job(
        GcRun,
        LEASE,
        run_id,
        collection.holder,
        state,
        event=finished,
        report=json.dumps(collection.report),
        **outcome,
    )
    log.info(
        "garbage collection %s %s: %s manifests, %s blobs (%s bytes), %s uploads",
        run_id,
        state,
        run.manifests_deleted,
        run.blobs_deleted,
        run.bytes_reclaimed,
        run.uploads_deleted,
    )
    return run


@events.listens(events.GC_FINISH)
def _count_run(event):
    """The metrics of a finished run."""
    detail = event.detail
    record_gc_run(detail["state"], detail["dryRun"], detail["seconds"], detail["bytesReclaimed"])


class ManifestRow(NamedTuple):
    id: int
    repository_id: int
    digest: str
    created_at: datetime


@dataclass
class Marked:
    """What the mark found to be garbage, and every manifest it saw."""

    manifests: list[ManifestRow] = field(default_factory=list)
    blobs: list = field(default_factory=list)  # (digest, size)
    seen: dict = field(default_factory=dict)  # manifest id -> created_at


def mark(cutoff, delete_untagged) -> Marked:
    """Garbage as of the current transaction's snapshot (see the module's docstring)."""
    rows = db.session.execute(
        select(
            Manifest.id,
            Manifest.repository_id,
            Manifest.digest,
            Manifest.subject_digest,
            Manifest.created_at,
        )
    ).all()
    if delete_untagged:
        roots, attached = _tag_roots()
        roots |= {row.id for row in rows if row.created_at >= cutoff}
        roots |= _restorable()
        live = _reach(roots, _keeps(rows, attached))
    else:
        live = {row.id for row in rows}
    live_blobs = set()
    references = select(ManifestReference.manifest_id, ManifestReference.digest).where(
        ManifestReference.kind == "blob"
    )
    for manifest_id, digest in db.session.execute(references):
        if manifest_id in live:
            live_blobs.add(digest)
    blobs = db.session.execute(select(Blob.digest, Blob.size).where(Blob.touched_at < cutoff))
    return Marked(
        manifests=[
            ManifestRow(row.id, row.repository_id, row.digest, row.created_at)
            for row in rows
            if row.id not in live
        ],
        # by digest: a batch then deletes from neighbouring pages of the digest indexes
        blobs=sorted((digest, size) for digest, size in blobs if digest not in live_blobs),
        seen={row.id: row.created_at for row in rows},
    )


def _restorable() -> set:
    """Ids of the manifests of tags deleted within the restore window: they stay, so that
    the tag can be put back (services/tag_restore.py)."""
    from .services.tag_restore import restorable_since

    return set(
        db.session.scalars(
            select(DeletedTag.manifest_id).where(DeletedTag.deleted_at >= restorable_since())
        )
    )


def _tag_roots():
    """(ids of tagged manifests, [(repository id, subject digest, manifest id)] of manifests
    tagged only in cosign's tag scheme). A `sha256-<hex>.sig` (.att, .sbom) tag attaches its
    manifest to the image `sha256:<hex>` like a referrer: it lives while that image lives and
    goes with it, instead of keeping itself alive (Harbor #16418)."""
    roots, attached = set(), []
    for manifest_id, repository_id, name in db.session.execute(
        select(Tag.manifest_id, Tag.repository_id, Tag.name)
    ):
        match = COSIGN_TAG.match(name)
        if match is None:
            roots.add(manifest_id)
        else:
            attached.append((repository_id, f"{match[1]}:{match[2]}", manifest_id))
    return roots, [entry for entry in attached if entry[2] not in roots]


def _keeps(rows, attached=()) -> dict:
    """manifest id -> ids of the manifests it keeps alive (index entries, referrers,
    signatures attached by cosign's tag scheme)."""
    by_key = {(row.repository_id, row.digest): row.id for row in rows}
    repository_of = {row.id: row.repository_id for row in rows}
    keeps = defaultdict(list)
    for row in rows:
        subject = by_key.get((row.repository_id, row.subject_digest))
        if subject is not None:
            keeps[subject].append(row.id)
    for repository_id, subject_digest, manifest_id in attached:
        subject = by_key.get((repository_id, subject_digest))
        if subject is not None:
            keeps[subject].append(manifest_id)
    entries = select(ManifestReference.manifest_id, ManifestReference.digest).where(
        ManifestReference.kind == "manifest"
    )
    for parent, digest in db.session.execute(entries):
        child = by_key.get((repository_of.get(parent), digest))
        if child is not None:
            keeps[parent].append(child)
    return keeps


def _reach(roots, keeps) -> set:
    seen = set(roots)
    frontier = list(roots)
    while frontier:
        for kept in keeps.get(frontier.pop(), ()):
            if kept not in seen:
                seen.add(kept)
                frontier.append(kept)
    return seen


def recently_reachable(since, marked_manifests) -> set:
    """Ids of manifests reachable (index entries, referrers) from the manifests created
    since `since` that the mark did not see (`marked_manifests`: id -> created_at), and from
    those a tag created or moved since then points at: all that can have become live since a
    mark that began after `since`. (A manifest the mark saw was judged by it; a tag it saw
    kept its manifest live then.)"""
    created = db.session.execute(
        select(Manifest.id, Manifest.created_at).where(Manifest.created_at >= since)
    )
    seen = {i for i, at in created if marked_manifests.get(i) != at}
    recent_tags = db.session.execute(
        select(Tag.manifest_id, Tag.name).where(Tag.updated_at >= since)
    )
    seen |= {i for i, name in recent_tags if not COSIGN_TAG.match(name)}  # those: attached
    frontier = list(seen)
    parent = Manifest.__table__.alias("parent")
    child = Manifest.__table__.alias("child")
    while frontier:
        found = set()
        for ids in _chunks(frontier, BATCH):
            found |= set(
                db.session.scalars(
                    select(child.c.id)
                    .select_from(ManifestReference)
                    .join(parent, parent.c.id == ManifestReference.manifest_id)
                    .join(
                        child,
                        (child.c.repository_id == parent.c.repository_id)
                        & (child.c.digest == ManifestReference.digest),
                    )
                    .where(ManifestReference.kind == "manifest", parent.c.id.in_(ids))
                )
            )
            found |= set(
                db.session.scalars(
                    select(child.c.id)
                    .select_from(parent)
                    .join(
                        child,
                        (child.c.repository_id == parent.c.repository_id)
                        & (child.c.subject_digest == parent.c.digest),
                    )
                    .where(parent.c.id.in_(ids))
                )
            )
            found |= _attached_by_tag(ids)
        frontier = list(found - seen)
        seen |= found
    return seen


def _attached_to_survivors(attached, doomed) -> set:
    """Ids of manifests tagged in cosign's scheme whose image still exists and is not among
    `doomed`: such a signature stays while its image does."""
    if not attached:
        return set()
    doomed_keys = {(row.repository_id, row.digest) for row in doomed}
    subjects = {subject for subjects in attached.values() for subject in subjects}
    existing = set()
    for repository_id, digest in db.session.execute(
        select(Manifest.repository_id, Manifest.digest).where(
            Manifest.digest.in_({digest for _, digest in subjects})
        )
    ):
        existing.add((repository_id, digest))
    return {
        manifest_id
        for manifest_id, subjects in attached.items()
        if any(s in existing and s not in doomed_keys for s in subjects)
    }


def _attached_by_tag(manifest_ids) -> set:
    """Ids of the manifests tagged `sha256-<hex>.sig|.att|.sbom` for these manifests."""
    wanted = {}
    for repository_id, digest in db.session.execute(
        select(Manifest.repository_id, Manifest.digest).where(Manifest.id.in_(manifest_ids))
    ):
        for suffix in ("sig", "att", "sbom"):
            wanted[(repository_id, f"{digest.replace(':', '-', 1)}.{suffix}")] = True
    if not wanted:
        return set()
    names = {name for _, name in wanted}
    rows = db.session.execute(
        select(Tag.manifest_id, Tag.repository_id, Tag.name).where(Tag.name.in_(names))
    )
    return {i for i, repository_id, name in rows if (repository_id, name) in wanted}


class Collection(JobWork):
    """One run's work and tallies."""

    noun = "garbage collection"
    logger = log.name

    def __init__(self, run: GcRun, now):
        settings = gc_settings()
        grace = timedelta(minutes=settings.grace_minutes)
        self.run_id = run.id
        self.holder = run.holder
        self.dry_run = run.dry_run
        self.cutoff = now - grace
        self.upload_cutoff = now - max(grace, UPLOAD_IDLE_MINIMUM)
        self.delete_untagged = settings.delete_untagged
        self.storage = current_storage()
        self.counts = {"manifests": 0, "blobs": 0, "bytes": 0, "uploads": 0}
        self.errors: list[str] = []
        self.report = {"manifests": [], "blobs": [], "uploads": [], "truncated": False}
        self.renewed = time.monotonic()

    def run(self):
        self.checkpoint("marking", commit=True)
        mark_started = utcnow()
        with read_only_transactions():
            marked = mark(self.cutoff, self.delete_untagged)
            names = _repository_names({row.repository_id for row in marked.manifests})
            db.session.rollback()
        if self.dry_run:
            for row in marked.manifests:
                self.tally("manifests", f"{names.get(row.repository_id)}@{row.digest}")
            for digest, size in marked.blobs:
                self.tally("blobs", digest, size)
            for path in self.stale_uploads():
                self.tally("uploads", path)
            return
        self.sweep_manifests(marked, names, since=mark_started - RECENT_MARGIN)
        self.sweep_blobs(marked.blobs)
        self.sweep_uploads()

    # --- the sweeps, one write transaction per batch ---------------------------------------

    # The sweeps fetch only the exceptions (usually none) rather than every candidate's row:
    # SQLite's module lets go of the GIL for each row it steps through, and getting it back
    # costs up to a switch interval (5 ms) while request threads run.

    def sweep_manifests(self, marked, names, since):
        garbage = marked.manifests
        for done, batch in _batches(garbage):
            with self.write_batch(f"deleting manifests: {done} of {len(garbage)} checked"):
                ids = [row.id for row in batch]
                lock_rows_for_update(Manifest.id, ids)
                spared = recently_reachable(since, marked.seen)
                attached = {}  # manifest id -> subjects of its cosign-scheme tags
                for manifest_id, repository_id, name in db.session.execute(
                    select(Tag.manifest_id, Tag.repository_id, Tag.name).where(
                        Tag.manifest_id.in_(ids)
                    )
                ):
                    match = COSIGN_TAG.match(name)
                    if match is None:
                        spared.add(manifest_id)  # tagged since the mark
                    else:
                        subject = (repository_id, f"{match[1]}:{match[2]}")
                        attached.setdefault(manifest_id, []).append(subject)
                # a new manifest may have taken the id of one deleted since the mark (SQLite
                # reuses the highest rowid): it was created after `since`
                recent = db.session.execute(
                    select(Manifest.id, Manifest.created_at).where(
                        Manifest.id.in_(ids), Manifest.created_at >= since
                    )
                ).all()
                spared |= {i for i, created in recent if marked.seen.get(i) != created}
                doomed = [row for row in batch if row.id not in spared]
                spared |= _attached_to_survivors(attached, doomed)
                doomed = [row for row in doomed if row.id not in spared]
                if doomed:
                    ids = [row.id for row in doomed]
                    _delete(delete(ManifestReference).where(ManifestReference.manifest_id.in_(ids)))
                    _delete(delete(Manifest).where(Manifest.id.in_(ids)))
                for row in doomed:
                    self.tally("manifests", f"{names.get(row.repository_id)}@{row.digest}")
            for repository in {row.repository_id for row in doomed}:
                lookup_caches.manifests.invalidate(repository)

    def sweep_blobs(self, candidates):
        for done, batch in _batches(candidates):
            with self.write_batch(f"deleting blobs: {done} of {len(candidates)} checked"):
                digests = [digest for digest, _ in batch]
                lock_rows_for_update(Blob.digest, digests)
                spared = set(
                    db.session.scalars(
                        select(Blob.digest).where(
                            Blob.digest.in_(digests), Blob.touched_at >= self.cutoff
                        )
                    )
                )
                spared |= set(
                    db.session.scalars(
                        select(ManifestReference.digest).where(
                            ManifestReference.kind == "blob",
                            ManifestReference.digest.in_(digests),
                        )
                    )
                )
                doomed = {
                    blob_path(digest): (digest, size)
                    for digest, size in batch
                    if digest not in spared
                }
                if doomed:
                    blob_sweeps.moved()  # pushes linking meanwhile look at the storage again
                failed = self.storage.delete_files(list(doomed))
                gone = []
                for path, (digest, size) in doomed.items():
                    if path in failed:
                        self.error(f"blob {digest}: {failed[path]}")
                        continue
                    gone.append(digest)
                    self.tally("blobs", digest, size)
                if gone:
                    _delete(delete(RepositoryBlob).where(RepositoryBlob.digest.in_(gone)))
                    _delete(delete(Blob).where(Blob.digest.in_(gone)))
            if gone:
                lookup_caches.blob_links.clear()

    def sweep_uploads(self):
        stale = self.stale_uploads()
        for done, batch in _batches(stale):
            with self.write_batch(f"deleting uploads: {done} of {len(stale)} checked"):
                sessions = [_file_name(path) for path in batch if _is_session(path)]
                rows = dict(
                    db.session.execute(
                        select(Upload.id, Upload.updated_at)
                        .where(Upload.id.in_(sessions))
                        .with_for_update()
                    ).all()
                )
                active = {i for i, updated in rows.items() if updated >= self.upload_cutoff}
                idle = set(rows) - active
                _delete(delete(Upload).where(Upload.id.in_(idle)))
                doomed = [path for path in batch if _file_name(path) not in active]
                failed = self.storage.delete_files(doomed)  # written to since listed: kept
                for path in doomed:
                    if path in failed:
                        self.error(f"{path}: {failed[path]}")
                    else:
                        self.tally("uploads", path)

    def stale_uploads(self) -> list:
        """Paths under uploads/ to delete: files of sessions idle since the upload cutoff
        (their rows go too, also when the file is missing), files of no session, and
        monolithic uploads started before the cutoff."""
        oldest = self.upload_cutoff.replace(tzinfo=UTC).timestamp()
        stale, names = [], []
        for path in self.storage.list(UPLOADS):
            started = monolithic_upload_started(_file_name(path))
            if started is None:
                names.append(_file_name(path))
            elif started < oldest:
                stale.append(path)
        # read after listing: a session's row is committed before its file is created, so a
        # listed file without a row belongs to no session
        with read_only_transactions():
            updated = {}
            for chunk in _chunks(names, BATCH):
                query = select(Upload.id, Upload.updated_at).where(Upload.id.in_(chunk))
                updated.update(db.session.execute(query).all())
            idle = set(
                db.session.scalars(select(Upload.id).where(Upload.updated_at < self.upload_cutoff))
            )
            db.session.rollback()
        stale += [upload_path(name) for name in names if name not in updated]
        stale += [upload_path(upload_id) for upload_id in sorted(idle)]
        return stale

    # --- bookkeeping ----------------------------------------------------------------------

    def tally(self, kind, entry, size=0):
        self.counts[kind] += 1
        self.counts["bytes"] += size
        if len(self.report[kind]) < REPORT_LIMIT:
            self.report[kind].append(entry)
        else:
            self.report["truncated"] = True

    def outcome(self) -> dict:
        return {
            "manifests_deleted": self.counts["manifests"],
            "blobs_deleted": self.counts["blobs"],
            "bytes_reclaimed": self.counts["bytes"],
            "uploads_deleted": self.counts["uploads"],
            "errors": json.dumps(self.errors),
        }

    @contextlib.contextmanager
    def write_batch(self, phase):
        """One write transaction of the sweep; then a rest as long as it held the writer
        lock (at most MAX_PAUSE), so that pushes waiting for it get their turn."""
        started = time.monotonic()
        try:
            yield
            self.checkpoint(phase)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        time.sleep(min(time.monotonic() - started, MAX_PAUSE))

    def checkpoint(self, phase, commit=False):
        """Within the current write transaction: record progress; renew the lease when due
        (LeaseLost if another holder has it)."""
        db.session.execute(
            update(GcRun).where(GcRun.id == self.run_id).values(phase=phase, **self.outcome())
        )
        if time.monotonic() - self.renewed >= RENEW_SECONDS:
            if not renew_lease(LEASE, self.holder, LEASE_SECONDS):
                raise LeaseLost("the garbage collection lease was taken by another holder")
            self.renewed = time.monotonic()
        if commit:
            db.session.commit()


def _delete(statement):
    """A bulk DELETE; the session holds none of these rows, so it need not look."""
    db.session.execute(statement, execution_options={"synchronize_session": False})


def _repository_names(ids) -> dict:
    names = {}
    for chunk in _chunks(list(ids), BATCH):
        for repository in db.session.scalars(select(Repository).where(Repository.id.in_(chunk))):
            names[repository.id] = repository.full_name
    return names


def _file_name(path):
    return path.rsplit("/", 1)[-1]


def _is_session(path):
    return monolithic_upload_started(_file_name(path)) is None


def _chunks(items, size):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batches(items):
    """(items checked so far, batch) pairs."""
    done = 0
    for chunk in _chunks(items, BATCH):
        done += len(chunk)
        yield done, chunk
