"""Sending queued webhook deliveries: one worker thread in each server process.

A delivery is claimed by a lease (`lease_until`, set by one UPDATE that only one process can
win), sent outside any transaction, and its attempt recorded with the outcome: 2xx ends it
delivered; anything else (another status, a refused connection, a timeout) schedules the next
attempt after an exponential backoff (WEBHOOK_RETRY_SECONDS, doubled each time, at most an
hour) until WEBHOOK_ATTEMPTS attempts have failed. A process that dies mid-send leaves the
lease to expire and another sends it again: at least once, with the same X-DTR-Delivery id
for the receiver to drop a repeat.

Each POST carries `X-DTR-Event`, `X-DTR-Delivery` and `X-DTR-Signature: sha256=<hex>`, the
HMAC-SHA256 of the exact body with the webhook's secret. Redirects are not followed, and
nothing is sent to this machine or link-local addresses (`webhook_addresses.py`).
"""

import hashlib
import hmac
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import or_, select, update

from ..database import db, write_transaction
from ..metrics import instruments
from ..models import Webhook, WebhookAttempt, WebhookDelivery, utcnow
from .webhook_addresses import refused_destination
from .webhooks import queue_heard_pulls

log = logging.getLogger("dtr.webhooks")
MAX_BACKOFF_SECONDS = 3600
LEASE_SECONDS = 120
BATCH = 20
SENDERS = 4  # webhooks sent to at once, per process
_wakeup = threading.Event()
_lock = threading.Lock()
_busy: set[int] = set()  # webhooks a sender of this process is sending to
_pool: ThreadPoolExecutor | None = None


def wake():
    """Tell this process's worker that a delivery is due now."""
    _wakeup.set()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def start_delivery_worker(app) -> threading.Thread:
    thread = threading.Thread(target=_run, args=(app,), name="dtr-webhooks", daemon=True)
    thread.start()
    return thread


def _run(app):
    poll = app.config["WEBHOOK_POLL_SECONDS"]
    while True:
        _wakeup.wait(poll)
        _wakeup.clear()
        with app.app_context():
            try:
                queue_heard_pulls()
                while deliver_due() == BATCH:
                    pass
            except Exception:  # noqa: BLE001 - the worker outlives any one failure
                log.exception("sending webhook deliveries failed")
            finally:
                db.session.remove()


def deliver_due(now=None) -> int:
    """Claim the deliveries that are due (at most BATCH) and hand them to the senders; how
    many were. Each webhook's are sent in order by one sender at a time (a webhook being sent
    to is skipped until its sender is done); different webhooks' at once (SENDERS), so a
    receiver that is slow to answer delays only its own deliveries."""
    now = now or utcnow()
    with _lock:
        busy = set(_busy)
    query = (
        select(WebhookDelivery.id, WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.state == "pending",
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(BATCH)
    )
    if busy:
        query = query.where(WebhookDelivery.webhook_id.not_in(busy))
    due = db.session.execute(query).all()
    db.session.rollback()
    by_webhook: dict[int, list[int]] = {}
    for delivery_id, webhook_id in due:
        if _claim(delivery_id, now):
            by_webhook.setdefault(webhook_id, []).append(delivery_id)
    app = current_app._get_current_object()
    for webhook_id, delivery_ids in by_webhook.items():
        with _lock:
            _busy.add(webhook_id)
        _senders().submit(_send_in_order, app, webhook_id, delivery_ids)
    return sum(len(ids) for ids in by_webhook.values())


def _senders() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(SENDERS, "dtr-webhook-send")
        return _pool


def _lease_seconds() -> int:
    """Long enough for a whole batch to one webhook that times out on each (sent in order)."""
    return max(LEASE_SECONDS, BATCH * current_app.config["WEBHOOK_TIMEOUT_SECONDS"] + 30)


def _send_in_order(app, webhook_id, delivery_ids):
    with app.app_context():
        try:
            for delivery_id in delivery_ids:
                _send(delivery_id)
        except Exception:  # noqa: BLE001 - a sender outlives any one failure
            log.exception("sending webhook deliveries failed")
        finally:
            db.session.remove()
            with _lock:
                _busy.discard(webhook_id)
            wake()  # what waited for this webhook may go now


def _claim(delivery_id, now) -> bool:
    with write_transaction():
        claimed = db.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.state == "pending",
                or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
            )
            .values(lease_until=now + timedelta(seconds=_lease_seconds()))
        )
    return claimed.rowcount == 1


def _send(delivery_id):
    row = db.session.execute(
        select(Webhook.url, Webhook.secret, WebhookDelivery.event, WebhookDelivery.payload)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.id == delivery_id)
    ).one_or_none()
    db.session.rollback()
    if row is None:  # its webhook was deleted meanwhile
        return
    status, error, milliseconds = post(delivery_id, *row)
    _record(delivery_id, status, error, milliseconds)


def post(delivery_id, url, secret, event, payload) -> tuple[int | None, str | None, int]:
    """(status code or None, error or None, milliseconds) of one POST."""
    body = payload.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "DTR-Webhooks/1",
        "X-DTR-Event": event,
        "X-DTR-Delivery": str(delivery_id),
        "X-DTR-Signature": signature(secret, body),
    }
    timeout = current_app.config["WEBHOOK_TIMEOUT_SECONDS"]
    started = time.monotonic()
    if not current_app.config["WEBHOOK_ALLOW_LOCAL"]:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        refused = refused_destination(parts.hostname, port)
        if refused:
            return None, f"not sent: {refused} (WEBHOOK_ALLOW_LOCAL)", 0
    try:
        with requests.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        ) as response:
            status, error = response.status_code, None
    except requests.RequestException as failure:
        status, error = None, f"{type(failure).__name__}: {failure}"[:1000]
    return status, error, int((time.monotonic() - started) * 1000)


def _record(delivery_id, status, error, milliseconds):
    config = current_app.config
    with write_transaction():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return
        now = utcnow()
        delivery.attempts += 1
        delivery.lease_until = None
        db.session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                at=now,
                status_code=status,
                error=error,
                milliseconds=milliseconds,
            )
        )
        if status is not None and 200 <= status < 300:
            outcome = delivery.state = "delivered"
            delivery.finished_at = now
        elif delivery.attempts >= config["WEBHOOK_ATTEMPTS"]:
            outcome = delivery.state = "failed"
            delivery.finished_at = now
        else:
            outcome = "retrying"
            wait = config["WEBHOOK_RETRY_SECONDS"] * 2 ** (delivery.attempts - 1)
            delivery.next_attempt_at = now + timedelta(seconds=min(wait, MAX_BACKOFF_SECONDS))
        attempts = delivery.attempts
    instruments.count_webhook_delivery(outcome)
    if outcome != "delivered":
        log.warning(
            "webhook delivery %s: attempt %s failed (%s)%s",
            delivery_id,
            attempts,
            status or error,
            "; no more attempts" if outcome == "failed" else "",
        )
