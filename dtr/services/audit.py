"""The audit log: who changed what, when, from where. Recorded in the transaction of the
change it describes (the caller commits): by a direct `record`, or, for content (pushes, tags,
manifests, repositories), as the recorder of their events (`events.py`). The HTTP layer tells
the client's address once per request (`set_client_address`), so services need not know of
requests."""

import contextvars
import json

from sqlalchemy import select

from ..database import db, write_transaction
from ..models import AuditEvent
from . import events

_client_address = contextvars.ContextVar("dtr_client_address", default=None)


def set_client_address(address):
    _client_address.set(address)


def record(actor, action, target, detail=None):
    """Add an event; `actor` is a user name (None: anonymous or the command line)."""
    db.session.add(
        AuditEvent(
            actor=actor,
            action=action,
            target=target,
            detail=json.dumps(detail) if detail is not None else None,
            address=_client_address.get(),
        )
    )


@events.records(*(kind for kind in events.KINDS if kind != events.PULL))
def _record_event(event):
    """target `repo:tag`, `repo@digest` or the repository; detail: the digest a tag event is
    about, a pushed manifest's type and size, then the event's own detail."""
    detail = {"digest": event.digest} if event.tag and event.digest else {}
    if event.media_type:
        detail.update(mediaType=event.media_type, size=event.size)
    detail.update(event.detail or {})
    record(event.actor, event.kind, event.target(), detail or None)


def record_refused_push(actor, repository_name):
    """A push refused by the access function: audited at once (its request fails), in a
    write transaction of its own (the push's reads are read-only)."""
    with write_transaction():
        record(actor, "push.refused", repository_name)


def list_events(start=0, limit=100, actor=None, action=None):
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query.offset(start).limit(limit)))
