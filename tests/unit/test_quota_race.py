"""A namespace's quota is checked again in the push's write transaction, where writers queue:
what another push stored between the early check (made without the writer lock) and the
write is counted, so two pushes near the limit cannot both pass; the refusal is published
(audit log) although the push's transaction is rolled back."""

from sqlalchemy import select, text, update

from dtr.database import db, own_connection
from dtr.models import Account, AuditEvent, Manifest
from dtr.services import storage_usage
from tests.unit.test_manifest_push_transactions import (
    OCI_MANIFEST,
    manifest,
    push_blob,
    pusher_client,
    put,
)


def test_what_fills_the_namespace_after_the_early_check_is_counted(tmp_path, monkeypatch):
    client = pusher_client(tmp_path / "instance")
    app = client.application
    with app.app_context():
        db.session.execute(
            update(Account).where(Account.name == "pusher").values(quota_bytes=10**7)
        )
        db.session.commit()
    body = manifest(push_blob(client, b'{"os":"linux"}'), push_blob(client, b"x" * 1000))
    checks = []
    original = storage_usage.check_push

    def then_another_push_fills_it(*args):
        checked = original(*args)
        checks.append(checked)
        if len(checks) == 1:  # between the early check and the write transaction
            with own_connection(write=True) as other:
                other.execute(text("UPDATE accounts SET quota_bytes = 10 WHERE name = 'pusher'"))
        return checked

    monkeypatch.setattr(storage_usage, "check_push", then_another_push_fills_it)
    response = put(client, "manifests/late", body, **{"Content-Type": OCI_MANIFEST})
    assert response.status_code == 403, response.data
    assert b"quota exceeded" in response.data
    assert len(checks) == 1 and checks[0] == (True, None)  # the second one refused
    with app.app_context():
        assert db.session.scalar(select(Manifest.id).where(Manifest.size == len(body))) is None
        refused = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "quota.exceeded")
        ).all()
        assert refused == ["quota.exceeded"]
