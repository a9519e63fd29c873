"""Housekeeping forgets webhook deliveries that ended more than WEBHOOK_HISTORY_DAYS ago, with
their attempts; pending deliveries and recent history stay."""

from datetime import timedelta

from sqlalchemy import func, select

from dtr.database import db
from dtr.models import Webhook, WebhookAttempt, WebhookDelivery, utcnow
from dtr.services.webhooks import forget_old_deliveries
from tests.unit.test_manifest_push_transactions import pusher_client


def test_old_finished_deliveries_go_with_their_attempts(tmp_path):
    app = pusher_client(tmp_path / "instance").application
    now = utcnow()
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    with app.app_context():
        hook = Webhook(url="http://10.0.0.1/", events="tag.create", secret="s" * 16)
        db.session.add(hook)
        db.session.flush()
        rows = {
            "old-delivered": ("delivered", old, old),
            "old-failed": ("failed", old, old),
            "recent": ("delivered", recent, recent),
            "old-pending": ("pending", old, None),
        }
        for name, (state, created, finished) in rows.items():
            delivery = WebhookDelivery(
                webhook_id=hook.id,
                event_id=name,
                event="tag.create",
                payload="{}",
                state=state,
                created_at=created,
                finished_at=finished,
            )
            db.session.add(delivery)
            db.session.flush()
            db.session.add(WebhookAttempt(delivery_id=delivery.id, at=created, status_code=500))
        db.session.commit()
        assert forget_old_deliveries(now) == 2
        left = set(db.session.scalars(select(WebhookDelivery.event_id)))
        assert left == {"recent", "old-pending"}
        attempts = db.session.scalar(select(func.count()).select_from(WebhookAttempt))
        assert attempts == 2
