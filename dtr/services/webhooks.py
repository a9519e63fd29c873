"""Webhooks: a URL that receives the events (`services/events.py`) of a repository, of every
repository of a namespace, or of the whole registry (its content's events and its own: a
garbage collection or a storage verification finished), as signed JSON POSTs.

Managed by the admins of the repository, or of the namespace (as its trusted keys and
immutable tag rules are: `repositories.administered_namespace`), or for the registry by
administrators; to everyone else a webhook does not exist (its URL may carry a token). Every
change is audited.

A delivery is queued by a recorder in the transaction of the change it reports, so it exists
exactly when the change does; the worker (`services/webhook_delivery.py`) sends it after the
commit, never in the request: a dead endpoint never slows a push. A pull writes nothing: it is
kept in memory and queued by the worker within seconds (lost if the process is killed
first). The payload (documented in
the OpenAPI document as WebhookPayload) is fixed when queued; a redelivery sends the same
bytes again under a new delivery id.
"""

import json
import logging
import secrets
from collections import deque
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import delete, func, or_, select

from ..database import db, read_only_transactions, write_transaction
from ..errors import InvalidInput, NameUnknown
from ..models import Account, Repository, Webhook, WebhookAttempt, WebhookDelivery, utcnow
from ..names import row_id
from . import audit, events
from .callers import require_admin
from .credential_rules import is_text
from .field_checks import checked_flag, refuse_unknown_fields
from .namespace_scopes import AdministeredScope, of_scope
from .repositories import split_repository_name
from .webhook_addresses import refused_literal

log = logging.getLogger("dtr.webhooks")
EVENTS = tuple(kind for kind in events.KINDS if kind not in events.REGISTRY_KINDS)  # content
REGISTRY_EVENTS = EVENTS + events.REGISTRY_KINDS
QUEUED_WITH_THE_CHANGE = tuple(kind for kind in REGISTRY_EVENTS if kind != events.PULL)
MAX_BUFFERED_PULLS = 10_000  # pulls heard and not yet queued, per process (then the oldest go)
TEST_EVENT = "webhook.test"
FIELDS = ("url", "events", "secret", "enabled")  # of a webhook, in a body
MAX_URL = 2048
SECRET_LENGTHS = (16, 255)
ATTEMPTS_SHOWN = 10
_SUBSCRIBED = "dtr_webhook_subscriptions"  # session.info: (transaction, {repository: rows})


class Scope(AdministeredScope):
    """A repository's webhooks, a namespace's or the registry's, for a caller who
    administers it."""

    MANAGING = "the webhooks"

    @classmethod
    def of_registry(cls, identity):
        require_admin(identity, "manage the registry's webhooks")
        return cls(None, None, "registry")

    def events(self) -> tuple:
        """The event kinds its webhooks may choose."""
        return REGISTRY_EVENTS if self.namespace_id is None else EVENTS

    def webhooks(self) -> list[Webhook]:
        return list(
            db.session.scalars(
                select(Webhook)
                .where(of_scope(Webhook, self.namespace_id, self.repository_id))
                .order_by(Webhook.id)
            )
        )

    def webhook(self, webhook_id) -> Webhook:
        webhook = _by_id(Webhook, webhook_id)
        if webhook is None or (webhook.namespace_id, webhook.repository_id) != (
            self.namespace_id,
            self.repository_id,
        ):
            raise NameUnknown("no such webhook here", {"webhook": str(webhook_id)[:20]})
        return webhook

    def delivery(self, webhook_id, delivery_id) -> WebhookDelivery:
        webhook = self.webhook(webhook_id)
        delivery = _by_id(WebhookDelivery, delivery_id)
        if delivery is None or delivery.webhook_id != webhook.id:
            raise NameUnknown("no such delivery here", {"delivery": str(delivery_id)[:20]})
        return delivery


def _by_id(model, value):
    number = row_id(value)
    return db.session.get(model, number) if number is not None else None


# --- managing ---------------------------------------------------------------------------------


def create(identity, scope: Scope, body: dict) -> tuple[Webhook, str]:
    """(the webhook, its secret: shown this once)."""
    refuse_unknown_fields(body, FIELDS, "not a field of a webhook")
    secret = body.get("secret")
    secret = _checked_secret(secret) if secret is not None else secrets.token_urlsafe(32)
    webhook = Webhook(
        namespace_id=scope.namespace_id,
        repository_id=scope.repository_id,
        url=_checked_url(body.get("url")),
        events=",".join(_checked_events(body.get("events"), scope.events())),
        secret=secret,
        enabled=checked_flag(body.get("enabled", True), "enabled"),
        created_by=identity.name,
    )
    db.session.add(webhook)
    db.session.flush()
    audit.record(identity.name, "webhook.create", scope.target, _described(webhook))
    db.session.commit()
    return webhook, secret


def update(identity, scope: Scope, webhook_id, body: dict) -> Webhook:
    webhook = scope.webhook(webhook_id)
    refuse_unknown_fields(body, FIELDS, "not a field of a webhook")
    if "url" in body:
        webhook.url = _checked_url(body["url"])
    if "events" in body:
        webhook.events = ",".join(_checked_events(body["events"], scope.events()))
    if "secret" in body:
        webhook.secret = _checked_secret(body["secret"])
    if "enabled" in body:
        webhook.enabled = checked_flag(body["enabled"], "enabled")
    detail = _described(webhook) | {"secretChanged": "secret" in body}
    audit.record(identity.name, "webhook.update", scope.target, detail)
    db.session.commit()
    return webhook


def remove(identity, scope: Scope, webhook_id):
    webhook = scope.webhook(webhook_id)
    audit.record(identity.name, "webhook.delete", scope.target, _described(webhook))
    _delete_deliveries(WebhookDelivery.webhook_id == webhook.id)
    db.session.delete(webhook)
    db.session.commit()


def deliveries(scope: Scope, webhook_id, start, limit) -> tuple[list, int]:
    """(newest first: (delivery, its last attempts newest first), how many there are)."""
    webhook = scope.webhook(webhook_id)
    mine = WebhookDelivery.webhook_id == webhook.id
    total = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(mine))
    page = list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(mine)
            .order_by(WebhookDelivery.id.desc())
            .offset(start)
            .limit(limit)
        )
    )
    attempts = {delivery.id: [] for delivery in page}
    if page:
        rows = db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(attempts))
            .order_by(WebhookAttempt.id.desc())
        )
        for attempt in rows:
            if len(attempts[attempt.delivery_id]) < ATTEMPTS_SHOWN:
                attempts[attempt.delivery_id].append(attempt)
    return [(delivery, attempts[delivery.id]) for delivery in page], total


def redeliver(identity, scope: Scope, webhook_id, delivery_id) -> WebhookDelivery:
    """Queue the same payload again, as a new delivery (the receiver tells them apart by
    X-DTR-Delivery; the event's id in the payload stays the same)."""
    original = scope.delivery(webhook_id, delivery_id)
    again = WebhookDelivery(
        webhook_id=original.webhook_id,
        event_id=original.event_id,
        event=original.event,
        payload=original.payload,
        redelivery_of=original.id,
    )
    db.session.add(again)
    db.session.flush()
    audit.record(
        identity.name,
        "webhook.redeliver",
        scope.target,
        {"webhook": original.webhook_id, "delivery": original.id},
    )
    db.session.commit()
    _wake_worker()
    return again


def queue_test(identity, scope: Scope, webhook_id) -> WebhookDelivery:
    """A `webhook.test` delivery, queued for the worker like any other."""
    webhook = scope.webhook(webhook_id)
    test = events.Event(TEST_EVENT, identity.name, repository=_repository_named(scope))
    delivery = _queued(webhook.id, test)
    db.session.flush()
    db.session.commit()
    _wake_worker()
    return delivery


def _repository_named(scope):
    return scope.target if scope.repository_id is not None else None


# --- checks -----------------------------------------------------------------------------------


def _checked_url(url) -> str:
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise _invalid("url", f"an http:// or https:// URL of at most {MAX_URL} characters")
    if not is_text(url) or not url.isprintable() or any(c.isspace() for c in url):
        raise _invalid("url", "spaces and control characters are not allowed")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError as error:
        raise _invalid("url", str(error)) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("url", "an http:// or https:// URL with a host is required")
    refused = refused_literal(parts.hostname)
    if refused and not current_app.config["WEBHOOK_ALLOW_LOCAL"]:
        raise _invalid("url", f"{refused}: webhooks are not sent there (WEBHOOK_ALLOW_LOCAL)")
    return url


def _checked_events(kinds, allowed) -> list[str]:
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        raise _invalid("events", f"a non-empty list of: {', '.join(allowed)}")
    unknown = [kind for kind in kinds if kind not in allowed]
    if unknown:
        raise _invalid("events", f"{unknown[0][:64]!r} is not one of: {', '.join(allowed)}")
    return [kind for kind in allowed if kind in kinds]  # in the documented order, once each


def _checked_secret(secret) -> str:
    low, high = SECRET_LENGTHS
    if (
        not isinstance(secret, str)
        or not low <= len(secret) <= high
        or not is_text(secret)
        or not secret.isprintable()
    ):
        raise _invalid("secret", f"{low} to {high} printable characters")
    return secret


def _invalid(name, message) -> InvalidInput:
    return InvalidInput(f"{name}: {message}", {"field": name})


def _described(webhook) -> dict:
    return {"webhook": webhook.id, "url": webhook.url, "events": webhook.events}


# --- queuing ----------------------------------------------------------------------------------


def payload_of(event: events.Event) -> str:
    """The JSON body of a delivery (OpenAPI: WebhookPayload)."""
    fields = {
        "id": event.id,
        "event": event.kind,
        "time": event.time.isoformat(timespec="seconds") + "Z",
        "actor": event.actor,
        "repository": event.repository,
        "tag": event.tag,
        "digest": event.digest,
        "mediaType": event.media_type,
        "size": event.size,
        **{key: (event.detail or {}).get(key) for key in ("usedBytes", "quotaBytes")},
        "outcome": event.detail if event.kind in events.REGISTRY_KINDS else None,
    }
    return json.dumps({k: v for k, v in fields.items() if v is not None}, sort_keys=True)


def _queued(webhook_id, event) -> WebhookDelivery:
    delivery = WebhookDelivery(
        webhook_id=webhook_id,
        event_id=event.id,
        event=event.kind,
        payload=payload_of(event),
        next_attempt_at=utcnow(),
    )
    db.session.add(delivery)
    return delivery


def _subscribed(full_name):
    """(id, events) of the enabled webhooks of a repository, of its namespace and of the
    registry (of the registry only: `full_name` None): one statement per repository and
    transaction (a push publishes two or three events)."""
    session = db.session()
    transaction = session.get_transaction()
    known = session.info.get(_SUBSCRIBED)
    if known is None or known[0] is not transaction:
        known = session.info[_SUBSCRIBED] = (transaction, {})
    if full_name not in known[1]:
        known[1][full_name] = _subscribed_now(full_name)
    return known[1][full_name]


def _subscribed_now(full_name):
    """(the repository may be gone already: a repository.delete event)"""
    of_registry = Webhook.namespace_id.is_(None)
    if full_name is None:
        return db.session.execute(
            select(Webhook.id, Webhook.events).where(Webhook.enabled, of_registry)
        ).all()
    namespace, name = split_repository_name(full_name)
    namespace_id = select(Account.id).where(Account.name == namespace).scalar_subquery()
    repository_id = (
        select(Repository.id)
        .where(Repository.namespace_id == namespace_id, Repository.name == name)
        .scalar_subquery()
    )
    return db.session.execute(
        select(Webhook.id, Webhook.events).where(
            Webhook.enabled,
            or_(
                of_registry,
                (Webhook.namespace_id == namespace_id)
                & or_(Webhook.repository_id.is_(None), Webhook.repository_id == repository_id),
            ),
        )
    ).all()


@events.records(*QUEUED_WITH_THE_CHANGE)
def _queue_deliveries(event: events.Event):
    queued = False
    for webhook_id, kinds in _subscribed(event.repository):
        if event.kind in kinds.split(","):
            _queued(webhook_id, event)
            queued = True
    if queued:
        db.session.info["dtr_webhooks_queued"] = True


@events.listens(*QUEUED_WITH_THE_CHANGE)
def _wake_after_commit(event: events.Event):
    if db.session.info.pop("dtr_webhooks_queued", False):
        _wake_worker()


# --- pulls: queued in batches, never by the pull itself ----------------------------------------

_pulls: deque = deque(maxlen=MAX_BUFFERED_PULLS)
_dropped = [0]  # pulls dropped since the worker last took them (said once, by the worker)


@events.listens(events.PULL)
def _hear_pull(event: events.Event):
    """A pull writes nothing (the hot path): it is kept in memory until the delivery worker
    queues it (`queue_heard_pulls`)."""
    if len(_pulls) == _pulls.maxlen:
        _dropped[0] += 1
    _pulls.append(event)


def queue_heard_pulls() -> int:
    """Queue a delivery of each pull heard since the last call to each webhook subscribed to
    `pull` (of its repository, namespace or the registry): one read of the subscriptions
    per repository, and a write transaction only when some are. How many were queued."""
    heard = []
    while _pulls:
        heard.append(_pulls.popleft())
    dropped, _dropped[0] = _dropped[0], 0
    if dropped:
        log.warning(
            "%s pulls were not queued for webhooks: more than %s waited",
            dropped,
            _pulls.maxlen,
        )
    if not heard:
        return 0
    db.session.commit()
    with read_only_transactions():  # a read: it does not queue for the writer lock
        subscribed = {
            name: [hook for hook, kinds in _subscribed_now(name) if events.PULL in kinds.split(",")]
            for name in {event.repository for event in heard}
        }
        db.session.rollback()
    wanted = [(hook, event) for event in heard for hook in subscribed[event.repository]]
    if wanted:
        with write_transaction():
            for hook, event in wanted:
                _queued(hook, event)
    return len(wanted)


# --- history ---------------------------------------------------------------------------------


def forget_old_deliveries(now=None) -> int:
    """Housekeeping: deliveries that ended (delivered or failed) more than
    WEBHOOK_HISTORY_DAYS ago go, with their attempts; pending ones stay. How many went."""
    cutoff = (now or utcnow()) - timedelta(days=current_app.config["WEBHOOK_HISTORY_DAYS"])
    gone = _delete_deliveries(
        WebhookDelivery.state != "pending", WebhookDelivery.finished_at < cutoff
    )
    db.session.commit()
    return gone


def _delete_deliveries(*conditions) -> int:
    """Delete the deliveries matching `conditions` and their attempts; how many went."""
    chosen = select(WebhookDelivery.id).where(*conditions)
    db.session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(chosen)))
    return db.session.execute(delete(WebhookDelivery).where(*conditions)).rowcount


def _wake_worker():
    from .webhook_delivery import wake

    wake()
