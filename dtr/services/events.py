"""Domain events: what happened to content, published by the service that did it.

A service publishes in the write transaction of its change (`publish`). Two kinds of
subscriber:

- **recorders** (`records`) run at once, in that transaction: what they write (the audit
  log's row, a webhook's queued delivery) commits with the change or not at all, so a crash
  can neither lose nor repeat it;
- **listeners** (`listens`) run once the transaction has committed, in the same thread: what
  lives in memory (metrics, batched pull statistics, waking the webhook worker). Their
  failures are logged, never raised: a push does not fail because a counter did.

An event published with no write transaction open (a pull) gets one of its own for the
recorders, if any subscribe to it, and reaches the listeners at once.

Kinds (also the audit log's actions, and webhook event names):
"""

import logging
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

from ..database import db, has_written, write_transaction
from ..models import utcnow

MANIFEST_PUSH = "manifest.push"  # a manifest newly stored in a repository
TAG_CREATE = "tag.create"
TAG_MOVE = "tag.move"  # a tag pointed at another manifest
TAG_DELETE = "tag.delete"
MANIFEST_DELETE = "manifest.delete"
REPOSITORY_CREATE = "repository.create"
REPOSITORY_DELETE = "repository.delete"
PULL = "pull"  # a manifest fetched by a client
QUOTA_WARNING = "quota.warning"  # a push took a namespace past its quota's warning threshold
QUOTA_EXCEEDED = "quota.exceeded"  # a push was refused: it would go over the quota
GC_FINISH = "gc.finish"  # a garbage collection ended (done or failed); detail: its outcome
STORAGE_VERIFIED = "storage.verified"  # a storage verification ended; detail: its outcome
REPLICATION_FINISH = "replication.finish"  # a replication run ended; detail: its outcome
REGISTRY_KINDS = (GC_FINISH, STORAGE_VERIFIED, REPLICATION_FINISH)  # of the registry
KINDS = (
    MANIFEST_PUSH,
    TAG_CREATE,
    TAG_MOVE,
    TAG_DELETE,
    MANIFEST_DELETE,
    REPOSITORY_CREATE,
    REPOSITORY_DELETE,
    PULL,
    QUOTA_WARNING,
    QUOTA_EXCEEDED,
    *REGISTRY_KINDS,
)
__doc__ += "".join(f"\n    {kind}" for kind in KINDS) + "\n"

log = logging.getLogger("dtr.events")
_PENDING = "dtr_pending_events"  # session.info: events waiting for their commit


@dataclass(frozen=True)
class Event:
    """One thing that happened. `repository` is the full name; the others are None where
    they do not apply. `id` tells deliveries of the same event apart from redeliveries."""

    kind: str
    actor: str | None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None
    media_type: str | None = None
    size: int | None = None
    detail: dict | None = None
    time: datetime = field(default_factory=utcnow)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def but(self, **changes) -> "Event":
        """A new event (an id of its own) with these fields changed."""
        return replace(self, id=uuid.uuid4().hex, **changes)

    def target(self) -> str | None:
        """What the audit log names: `repo:tag`, `repo@digest`, the repository, or for an
        event of the registry what it is about."""
        if self.repository and self.tag:
            return f"{self.repository}:{self.tag}"
        if self.repository and self.digest:
            return f"{self.repository}@{self.digest}"
        return self.repository or _REGISTRY_TARGETS.get(self.kind)

    def as_dict(self) -> dict:
        fields = asdict(self)
        fields["time"] = self.time.isoformat() + "Z"
        return {key: value for key, value in fields.items() if value is not None}


_REGISTRY_TARGETS = {
    GC_FINISH: "garbageCollection",
    STORAGE_VERIFIED: "storage",
    REPLICATION_FINISH: "replication",
}
_recorders: list = []  # (kinds, function)
_listeners: list = []


def records(*kinds):
    """Decorator: call `function(event)` in the publishing transaction for these kinds (all
    when none are named)."""
    return _subscriber(_recorders, kinds)


def listens(*kinds):
    """Decorator: call `function(event)` after the publishing transaction commits."""
    return _subscriber(_listeners, kinds)


def _subscriber(subscribers, kinds):
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"no event kind {kind!r}")

    def register(function):
        subscribers.append((frozenset(kinds), function))
        return function

    return register


def _for(subscribers, kind):
    return [function for kinds, function in subscribers if not kinds or kind in kinds]


def publish(event: Event):
    """Publish in the write transaction of the change (see the module's docstring)."""
    session = db.session()
    recorders = _for(_recorders, event.kind)
    if has_written(session):
        for recorder in recorders:
            recorder(event)
        session.info.setdefault(_PENDING, []).append(event)
        return
    if recorders:
        with write_transaction():
            for recorder in recorders:
                recorder(event)
    _tell_listeners([event])


def _tell_listeners(events):
    for event in events:
        for listener in _for(_listeners, event.kind):
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener never fails the change
                log.exception("a listener of %s events failed", event.kind)


@orm_event.listens_for(Session, "after_commit")
def _committed(session):
    pending = session.info.pop(_PENDING, None)
    if pending:
        _tell_listeners(pending)


@orm_event.listens_for(Session, "after_rollback")
def _rolled_back(session):
    session.info.pop(_PENDING, None)
