"""Blobs: lookup, linking to repositories, storing verified bytes at their content-addressed
path (in the order that keeps garbage collection safe: see `store_blob`)."""

from sqlalchemy import select

from ..database import db, dialect_insert, insert_ignoring_duplicates
from ..errors import BlobUnknown
from ..models import Blob, RepositoryBlob, utcnow
from ..storage import current_storage
from ..storage.layout import blob_path
from . import lookup_caches


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
        .where(RepositoryBlob.repository_id == repository.id, Blob.digest == digest)
    ).scalar_one_or_none()
    if blob is None:
        raise BlobUnknown("blob unknown to registry", {"digest": digest})
    return blob


def store_blob(repository, source_path, digest, size):
    """Put verified bytes at the blob's content-addressed path and let `repository` use it.

    The order is what keeps a garbage collection running meanwhile from losing the blob
    (see `dtr/gc.py`): first the blob's row is touched in a committed transaction (a
    collection keeps blobs touched within its grace window), then the bytes move (or, when
    the same content is there already, ours stay aside as a spare), then the link commits
    after checking, under the write lock, that the bytes are in place.
    """
    touch_blob(digest, size)
    storage = current_storage()
    target = blob_path(digest)
    spare = source_path if storage.stat(target) is not None else None
    if spare is None:
        storage.move(source_path, target)
    _link_present_blob(repository, digest, size, spare)
    if spare is not None:
        storage.delete(spare)


def link_blob(repository, digest, size):
    """Let `repository` use a blob that is already stored (a cross-repository mount);
    BlobUnknown when its bytes are gone."""
    touch_blob(digest, size)
    _link_present_blob(repository, digest, size, None)


def touch_blob(digest, size):
    """Create the blob's row, or set its touch time to now; commits."""
    _upsert_touched(digest, size)
    db.session.commit()


def _upsert_touched(digest, size):
    now = utcnow()
    upsert = dialect_insert(Blob).values(digest=digest, size=size, created_at=now, touched_at=now)
    db.session.execute(
        upsert.on_conflict_do_update(index_elements=[Blob.digest], set_={"touched_at": now})
    )


def lock_blob_rows(digests):
    """In a write transaction: lock the rows of these blobs (PostgreSQL: FOR UPDATE; SQLite's
    one writer at a time needs nothing more). Returns the digests that have a row."""
    return set(
        db.session.scalars(select(Blob.digest).where(Blob.digest.in_(digests)).with_for_update())
    )


def _link_present_blob(repository, digest, size, spare):
    """One write transaction: check that the bytes are at their path (a garbage collection
    since the touch may have deleted them: put the spare copy there, or fail cleanly), touch
    the row again and link it to the repository."""
    lock_blob_rows([digest])
    storage = current_storage()
    target = blob_path(digest)
    if storage.stat(target) is None:
        if spare is None:
            db.session.rollback()
            raise BlobUnknown(
                "the blob was removed by garbage collection while it was being stored; "
                "push it again",
                {"digest": digest},
            )
        storage.move(spare, target)
    _upsert_touched(digest, size)
    insert_ignoring_duplicates(
        RepositoryBlob, repository_id=repository.id, digest=digest, created_at=utcnow()
    )
    db.session.commit()
