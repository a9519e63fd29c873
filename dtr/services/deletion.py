"""Soft deletes of tags, manifests and blob links: they leave the database at once (a deleted
manifest no longer resolves), while the blobs they used stay on storage until garbage
collection (`dtr/gc.py`) finds that nothing references them. Every delete is audited.

Repositories are deleted by `repositories.delete_repository` (admin level): their tags,
manifests and grants go with them, and their blobs become garbage the same way.
"""

from sqlalchemy import delete, select

from .. import access
from ..database import db
from ..errors import BlobUnknown
from ..models import ManifestReference, RepositoryBlob, Tag
from ..names import check_tag, is_digest
from . import audit, events, immutable_tags, lookup_caches
from .events import Event
from .manifests import find_manifest
from .repositories import visible_repository


def soft_delete_tag(identity, full_name, tag):
    """Remove one tag (read-write on the repository); its manifest stays until garbage
    collection, reachable by digest."""
    repository = visible_repository(identity, full_name, access.DELETE)
    check_tag(tag)
    delete_reference(repository, full_name, tag, identity.name)


def soft_delete_manifest(identity, full_name, reference) -> list[str]:
    """Remove a manifest by digest with every tag pointing at it, or by tag only that tag
    (read-write on the repository). Returns the tags removed."""
    repository = visible_repository(identity, full_name, access.DELETE)
    return delete_reference(repository, full_name, reference, identity.name)


def delete_reference(repository, full_name, reference, actor) -> list[str]:
    """Delete by digest (the manifest and its tags) or by tag (only the tag), for a caller
    already allowed to; `repository` is a Repository or a RepositoryRef. Returns the tags
    removed; ManifestUnknown when nothing has that reference, ImmutableTag when an
    immutability rule covers a tag that would go."""
    manifest = find_manifest(repository, reference)
    if is_digest(reference):
        tags = list(
            db.session.scalars(
                select(Tag.name).where(Tag.manifest_id == manifest.id).order_by(Tag.name)
            )
        )
        immutable_tags.check_deletable(repository, full_name, tags)
        db.session.execute(delete(Tag).where(Tag.manifest_id == manifest.id))
        db.session.execute(
            delete(ManifestReference).where(ManifestReference.manifest_id == manifest.id)
        )
        db.session.delete(manifest)
        detail = {"tags": tags}
        events.publish(
            Event(events.MANIFEST_DELETE, actor, full_name, None, reference, detail=detail)
        )
    else:
        tags = [reference]
        immutable_tags.check_deletable(repository, full_name, tags)
        db.session.execute(
            delete(Tag).where(Tag.repository_id == repository.id, Tag.name == reference)
        )
        events.publish(Event(events.TAG_DELETE, actor, full_name, reference, manifest.digest))
    db.session.commit()
    lookup_caches.manifests.invalidate(repository.id)
    return tags


def unlink_blob(repository, full_name, digest, actor):
    """Take a blob from a repository (the registry's blob DELETE): its bytes stay until
    garbage collection finds nothing references it. BlobUnknown if it was not linked."""
    link = db.session.get(RepositoryBlob, (repository.id, digest))
    if link is None:
        raise BlobUnknown("blob unknown to repository", {"digest": digest})
    db.session.delete(link)
    audit.record(actor, "blob.delete", f"{full_name}@{digest}")
    db.session.commit()
    lookup_caches.blob_links.invalidate(repository.id)
