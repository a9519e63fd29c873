"""Blobs: lookup, linking to repositories, the content-addressed commit of uploaded bytes."""

from sqlalchemy import select

from ..database import db, insert_ignoring_duplicates
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


def link_blob(repository, digest, size):
    """Record the blob (once for the registry) and let `repository` use it; commits."""
    insert_ignoring_duplicates(Blob, digest=digest, size=size, created_at=utcnow())
    insert_ignoring_duplicates(
        RepositoryBlob, repository_id=repository.id, digest=digest, created_at=utcnow()
    )
    db.session.commit()


def unlink_blob(repository, digest):
    """Remove the blob from the repository (its bytes stay until garbage collection)."""
    link = db.session.get(RepositoryBlob, (repository.id, digest))
    if link is None:
        raise BlobUnknown("blob unknown to repository", {"digest": digest})
    db.session.delete(link)
    db.session.commit()
    lookup_caches.blob_links.invalidate(repository.id)


def commit_blob_bytes(source_path, digest):
    """Move verified bytes to the blob's content-addressed path (or drop them when the same
    content is already there)."""
    storage = current_storage()
    target = blob_path(digest)
    if storage.stat(target) is not None:
        storage.delete(source_path)
    else:
        storage.move(source_path, target)
