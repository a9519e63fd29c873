"""The scheduler's periodic jobs: the LDAP sync runs only in LDAP mode, once per sync
interval across every process sharing the database (a lease held for the interval), and
again once that interval has passed, also when the process that ran it died."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask_migrate import upgrade
from sqlalchemy import update

from dtr import create_app, scheduler
from dtr.database import db
from dtr.models import JobLease, utcnow
from dtr.services import auth_settings, ldap_sync, settings
from dtr.services.periodic_jobs import run_once_per_interval


@pytest.fixture
def app(tmp_path):
    app = create_app(tmp_path / "instance")
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        yield app


def expire(lease):
    db.session.execute(
        update(JobLease)
        .where(JobLease.name == lease)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def test_ldap_sync_runs_in_ldap_mode_once_per_interval(app, monkeypatch):
    calls = []
    mode = {"auth_mode": "managed"}
    monkeypatch.setattr(settings, "get_setting", lambda key: mode[key])
    monkeypatch.setattr(
        auth_settings, "ldap_settings", lambda: SimpleNamespace(sync_interval_minutes=60)
    )
    monkeypatch.setattr(ldap_sync, "sync_ldap", lambda: calls.append(1) or {})
    assert scheduler._ldap_sync_if_due() is False and calls == []  # not LDAP mode
    mode["auth_mode"] = "ldap"
    assert scheduler._ldap_sync_if_due() is True and calls == [1]
    assert scheduler._ldap_sync_if_due() is False and calls == [1]  # not due yet
    expire("periodic:ldap-sync")  # the interval has passed
    assert scheduler._ldap_sync_if_due() is True and calls == [1, 1]


def test_a_periodic_job_runs_once_however_many_schedulers_tick(app):
    runs = []
    ticks = [run_once_per_interval("probe", 3600, lambda: runs.append(1)) for _ in range(5)]
    assert ticks == [True, False, False, False, False] and runs == [1]


def test_a_job_whose_process_died_runs_again_after_its_interval(app):
    def dies():
        raise RuntimeError("the process ends here")

    with pytest.raises(RuntimeError):
        run_once_per_interval("fragile", 60, dies)
    assert run_once_per_interval("fragile", 60, lambda: None) is False  # its interval holds
    expire("periodic:fragile")
    assert run_once_per_interval("fragile", 60, lambda: None) is True
