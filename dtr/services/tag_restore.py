"""Restoring deleted tags (Quay's "time machine"): a tag deleted by hand (the portal, the API,
the registry's DELETE by tag) can be put back for TAG_RESTORE_DAYS (14 by default), and
garbage collection keeps its manifest (and so its blobs) until then (`dtr/gc.py` counts them
as tagged). A manifest deleted by digest is gone at once, as its tags are: that delete says
so (`DELETE .../manifests/sha256:...` is the explicit "remove this content").

Restoring is pushing the stored manifest again under the tag (`manifests.push_manifest`):
the same checks (an immutable tag is never moved), the same events (tag.create, or tag.move
when the name points at another manifest now) and audit. It needs push access.
"""

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from .. import access
from ..database import db
from ..errors import NameUnknown
from ..models import Account, DeletedTag, Manifest, Repository, utcnow
from ..names import row_id
from . import events, manifests
from .repositories import split_repository_name, visible_repository


def window() -> timedelta:
    return timedelta(days=current_app.config["TAG_RESTORE_DAYS"])


def restorable_since():
    return utcnow() - window()


@events.records(events.TAG_DELETE)
def _keep_deleted_tag(event: events.Event):
    """In the delete's transaction: remember the tag and its manifest."""
    namespace, name = split_repository_name(event.repository)
    row = db.session.execute(
        select(Repository.id, Manifest.id)
        .join(Manifest, Manifest.repository_id == Repository.id)
        .where(
            Repository.namespace_id
            == select(Account.id).where(Account.name == namespace).scalar_subquery(),
            Repository.name == name,
            Manifest.digest == event.digest,
        )
    ).first()
    if row is not None:
        db.session.add(
            DeletedTag(
                repository_id=row[0],
                name=event.tag,
                manifest_id=row[1],
                deleted_by=event.actor,
                deleted_at=event.time,
            )
        )


def list_deleted(identity, full_name) -> list[tuple[DeletedTag, str]]:
    """(deleted tag, its manifest's digest), newest first, within the window; for whoever
    may see the repository."""
    repository = visible_repository(identity, full_name)
    return deleted_of(repository.id)


def deleted_of(repository_id):
    rows = db.session.execute(
        select(DeletedTag, Manifest.digest)
        .join(Manifest, Manifest.id == DeletedTag.manifest_id)
        .where(
            DeletedTag.repository_id == repository_id,
            DeletedTag.deleted_at >= restorable_since(),
        )
        .order_by(DeletedTag.deleted_at.desc(), DeletedTag.id.desc())
        .limit(200)
    )
    return [(deleted, digest) for deleted, digest in rows]


def restore(identity, full_name, deleted_id) -> tuple[str, str]:
    """Put a deleted tag back; (tag, digest). The row goes: restoring again is not needed."""
    repository = visible_repository(identity, full_name, access.PUSH)
    found, number = None, row_id(deleted_id)
    if number is not None:
        found = db.session.execute(
            select(DeletedTag, Manifest)
            .join(Manifest, Manifest.id == DeletedTag.manifest_id)
            .where(
                DeletedTag.id == number,
                DeletedTag.repository_id == repository.id,
                DeletedTag.deleted_at >= restorable_since(),
            )
        ).first()
    if found is None:
        raise NameUnknown(
            "no such deleted tag here (or its restore window has passed)",
            {"deletedTag": str(deleted_id)[:20]},
        )
    deleted, manifest = found
    tag, digest, payload, media_type = (
        deleted.name,
        manifest.digest,
        manifest.payload,
        manifest.media_type,
    )
    db.session.rollback()
    manifests.push_manifest(repository, full_name, tag, payload, media_type, identity.name)
    db.session.execute(
        delete(DeletedTag).where(DeletedTag.repository_id == repository.id, DeletedTag.name == tag)
    )
    db.session.commit()
    return tag, digest


def forget_expired() -> int:
    """Housekeeping: drop what can no longer be restored."""
    gone = db.session.execute(delete(DeletedTag).where(DeletedTag.deleted_at < restorable_since()))
    db.session.commit()
    return gone.rowcount
