"""Blobs: lookup, linking to repositories, storing verified bytes at their content-addressed
path (in the order that keeps garbage collection safe: see `store_blob`), quarantine.

A quarantined blob (`Blob.quarantine` set: its stored bytes were found corrupt or missing by
storage verification, or of the wrong size by a download) is unknown to pulls and mounts;
the next push of its content writes the bytes again and lifts the quarantine.
"""

import logging

from sqlalchemy import bindparam, delete, select, update

from ..database import db, lock_rows_for_update, prepared, read_only_transactions
from ..errors import BlobUnknown
from ..models import Blob, RepositoryBlob, Upload, utcnow
from ..storage import PathNotFound, current_storage
from ..storage.layout import blob_path
from . import blob_sweeps, lookup_caches
from .storage_full import clear_storage_full

log = logging.getLogger("dtr.storage")


def linked_blob_size(repository, digest) -> int:
    """Size of a blob the repository may use, through the lookup cache; BlobUnknown if not."""
    cache = lookup_caches.blob_links
    size = cache.get(repository.id, digest)
    if size is None:
        generation = cache.generation(repository.id)
        size = find_linked_blob(repository, digest).size
        cache.put(repository.id, digest, size, generation)
    return size


def find_linked_blob(repository, digest) -> Blob:
    """The blob if `repository` may use it; BlobUnknown otherwise."""
    blob = db.session.execute(
        select(Blob)
        .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
        .where(
            RepositoryBlob.repository_id == repository.id,
            Blob.digest == digest,
            Blob.quarantine.is_(None),
        )
    ).scalar_one_or_none()
    if blob is None:
        raise BlobUnknown("blob unknown to registry", {"digest": digest})
    return blob


def store_blob(repository, source_path, digest, size, ending_upload=None, looked=None):
    """Put verified bytes at the blob's content-addressed path and let `repository` use it
    (and end the upload session `ending_upload`, its row deleted in the link's transaction).

    The order is what keeps a garbage collection running meanwhile from losing the blob
    (see `dtr/gc.py`): the bytes move (or, when the same content is there already, ours stay
    aside as a spare), then one write transaction links the blob after making sure that the
    bytes are in place: unless no collection deleted any bytes since the push looked
    (`blob_sweeps`), it checks the storage, under the write lock that a collection holds
    while it deletes bytes. One write transaction per blob: a collection only deletes the
    bytes of blobs that have a row, and one between the move and the link can only find a
    row of the same digest whose bytes were missing (then the link fails cleanly and the
    client pushes again).

    A quarantined blob heals: its row is touched first (committed, so that a collection
    keeps it meanwhile), our verified bytes replace the stored ones, and the link's
    transaction lifts the quarantine (it also moves the touch time, which tells a storage
    verification that read the old bytes not to quarantine it again).

    `looked`: (quarantined, blob sweeps) as the caller read them before anything it did on
    the storage (`before_storing`), so that this read is not made twice.
    """
    quarantined, sweeps = looked or _before_storing(digest)
    quarantined = quarantined and touch_blob(digest, size)
    storage = current_storage()
    target = blob_path(digest)
    spare = source_path if not quarantined and storage.stat(target) is not None else None
    if spare is None:
        storage.move(source_path, target)
    # healed when quarantined
    _link_present_blob(repository, digest, size, spare, quarantined, ending_upload, sweeps)
    if spare is not None:
        storage.delete(spare)
    clear_storage_full()


def usable_blob(repository, digest) -> bool:
    """Whether `repository` may use the blob, linking it first when it is stored already for
    another repository (not quarantined, its bytes still there)."""
    try:
        linked_blob_size(repository, digest)
        return True
    except BlobUnknown:
        pass
    row = db.session.get(Blob, digest)
    if row is None or row.quarantine is not None:
        return False
    try:
        link_blob(repository, digest, row.size)
    except BlobUnknown:  # its bytes are gone
        return False
    return True


def link_blob(repository, digest, size):
    """Let `repository` use a blob that is already stored (a cross-repository mount);
    BlobUnknown when its bytes are gone."""
    touch_blob(digest, size)
    _link_present_blob(repository, digest, size, None)


_BLOBS = Blob.__table__
# The columns (quarantine: the blob's, or None also when it has no row; sweeps: the blob
# sweeps so far) that `store_blob` reads before it looks at the storage; a caller with a read
# of its own to make then (an upload's row) selects them with it.
BEFORE_STORING_COLUMNS = (
    select(_BLOBS.c.quarantine)
    .where(_BLOBS.c.digest == bindparam("digest"))
    .scalar_subquery()
    .label("quarantine"),
    blob_sweeps.GENERATION.scalar_subquery().label("sweeps"),
)
_BEFORE_STORING = select(*BEFORE_STORING_COLUMNS)


def before_storing(row) -> tuple[bool, int]:
    """`store_blob`'s `looked` from a row with BEFORE_STORING_COLUMNS."""
    return row.quarantine is not None, row.sweeps or 0


def _before_storing(digest) -> tuple[bool, int]:
    """(whether the blob is quarantined, the blob sweeps so far): one read that never waits
    for the writer lock, before the storage is looked at."""
    with read_only_transactions():
        row = db.session.execute(_BEFORE_STORING, {"digest": digest}).one()
        db.session.commit()
    return before_storing(row)


def touch_blob(digest, size) -> bool:
    """Create the blob's row, or set its touch time to now; commits. True when the blob is
    quarantined."""
    _upsert_touched(digest, size)
    quarantined = db.session.scalar(select(Blob.quarantine).where(Blob.digest == digest))
    db.session.commit()
    return quarantined is not None


@prepared
def _touch_statement(insert):
    statement = insert(_BLOBS)
    return statement.on_conflict_do_update(
        index_elements=[_BLOBS.c.digest], set_={"touched_at": statement.excluded.touched_at}
    )


@prepared
def _link_statement(insert):
    return insert(RepositoryBlob.__table__).on_conflict_do_nothing()


def _upsert_touched(digest, size):
    now = utcnow()
    values = {"digest": digest, "size": size, "created_at": now, "touched_at": now}
    db.session.execute(_touch_statement(), values)


_END_UPLOAD = delete(Upload).where(Upload.id == bindparam("upload_id"))


def _link_present_blob(
    repository, digest, size, spare, healed=False, ending_upload=None, sweeps_seen=None
):
    """One write transaction: make sure the bytes are at their path (a garbage collection
    since `sweeps_seen`, or since ever when None, may have deleted them: put the spare copy
    there, or fail cleanly), touch the row (lifting its quarantine when `healed`), link it
    to the repository and delete the row of the upload session it ends."""
    lock_rows_for_update(Blob.digest, [digest])
    if sweeps_seen is None or blob_sweeps.current() != sweeps_seen:
        _ensure_bytes(digest, spare)
    _upsert_touched(digest, size)
    if healed:
        db.session.execute(update(Blob).where(Blob.digest == digest).values(quarantine=None))
    link = {"repository_id": repository.id, "digest": digest, "created_at": utcnow()}
    db.session.execute(_link_statement(), link)
    if ending_upload is not None:
        db.session.execute(_END_UPLOAD, {"upload_id": ending_upload})
    db.session.commit()
    if healed:
        lookup_caches.blob_links.clear()
        log.info("blob %s healed: a push wrote its bytes again", digest)


def _ensure_bytes(digest, spare):
    """Under the writer lock: the blob's bytes are at their path, or the spare copy goes
    there; BlobUnknown (the transaction rolled back) when neither."""
    storage = current_storage()
    target = blob_path(digest)
    if storage.stat(target) is not None:
        return
    if spare is None:
        db.session.rollback()
        raise BlobUnknown(
            "the blob was removed by garbage collection while it was being stored; push it again",
            {"digest": digest},
        )
    storage.move(spare, target)


def check_stored_size(digest, size):
    """Before serving a blob's bytes: the stored object must have the recorded size. A
    missing one raises PathNotFound; one of another size is quarantined (logged) and raises
    BlobUnknown, so that a client never receives more or fewer bytes than it was told."""
    stored = current_storage().stat(blob_path(digest))
    if stored is None:
        raise PathNotFound(blob_path(digest))
    if stored != size:
        reason = f"size {stored} on storage, {size} recorded (found by a download)"
        quarantine_blob(digest, reason)
        raise BlobUnknown(
            "blob damaged on storage: quarantined until it is pushed again",
            {"digest": digest, "reason": reason},
        )


def quarantine_blob(digest, reason, touched_at=None) -> bool:
    """Quarantine a blob (one write transaction) and log it; with `touched_at`, only if its
    row still has that touch time (nobody pushed or mounted it since it was read). False
    when the row is gone or changed."""
    db.session.rollback()
    statement = update(Blob).where(Blob.digest == digest)
    if touched_at is not None:
        statement = statement.where(Blob.touched_at == touched_at)
    changed = db.session.execute(statement.values(quarantine=reason[:512])).rowcount
    db.session.commit()
    if changed:
        lookup_caches.blob_links.clear()
        log.error("blob %s quarantined: %s", digest, reason)
    return bool(changed)
