"""The scheduler's LDAP job runs only in LDAP mode, once per sync interval."""

from types import SimpleNamespace

from dtr import scheduler
from dtr.services import auth_settings, ldap_sync, settings


def test_ldap_sync_runs_when_due(monkeypatch):
    calls = []
    mode = {"auth_mode": "managed"}
    monkeypatch.setattr(settings, "get_setting", lambda key: mode[key])
    monkeypatch.setattr(
        auth_settings, "ldap_settings", lambda: SimpleNamespace(sync_interval_minutes=60)
    )
    monkeypatch.setattr(ldap_sync, "sync_ldap", lambda: calls.append(1) or {})
    assert scheduler._ldap_sync_if_due(0.0) == 0.0 and calls == []  # not LDAP mode
    mode["auth_mode"] = "ldap"
    last = scheduler._ldap_sync_if_due(-10_000.0)
    assert calls == [1] and last > 0
    assert scheduler._ldap_sync_if_due(last) == last and calls == [1]  # not due yet
