"""The scheduler thread fires garbage collection on its cron schedule, driven by an injected
clock and sleep (no waiting), once per scheduled time even with several processes."""

import hashlib
from datetime import datetime, timedelta

import pytest
from flask_migrate import upgrade

from dtr import create_app, scheduler
from dtr.database import db
from dtr.gc import LEASE
from dtr.models import Blob, GcRun, utcnow
from dtr.services import gc_jobs
from dtr.services.gc_settings import GRACE_KEY, SCHEDULE_KEY, UNTAGGED_KEY, set_schedule
from dtr.services.job_leases import release_lease, take_lease
from dtr.services.settings import forget_cached_setting
from dtr.storage import current_storage
from dtr.storage.layout import blob_path


@pytest.fixture
def app(tmp_path):
    app = create_app(tmp_path / "instance")
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    for key in (SCHEDULE_KEY, GRACE_KEY, UNTAGGED_KEY):  # cached by an earlier test's app
        forget_cached_setting(key)
    return app


class FakeTime:
    """A clock that moves only when the scheduler sleeps."""

    def __init__(self, start):
        self.now = start
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


def garbage_blob(content=b"unreferenced"):
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    writer = current_storage().writer(blob_path(digest))
    writer.write(content)
    writer.commit()
    old = utcnow() - timedelta(hours=3)
    db.session.add(Blob(digest=digest, size=len(content), created_at=old, touched_at=old))
    db.session.commit()
    return digest


def scheduled_runs():
    query = db.select(GcRun).where(GcRun.triggered_by.startswith("schedule:")).order_by(GcRun.id)
    return list(db.session.scalars(query))


def test_the_scheduler_thread_fires_the_daily_collection_at_midnight(app):
    with app.app_context():
        set_schedule("admin", "0 0 0 * * *")  # DTR's form: seconds first
        digest = garbage_blob()
    fake = FakeTime(datetime(2026, 11, 27, 23, 58, 45))
    # ticks at 23:59:15 (sees the schedule), 23:59:45, 00:00:15 (due), 00:00:45
    scheduler.run_scheduler(app, clock=fake.clock, sleep=fake.sleep, ticks=4)
    assert fake.sleeps == [scheduler.TICK_SECONDS] * 4
    with app.app_context():
        runs = scheduled_runs()
        assert [(run.state, run.dry_run, run.blobs_deleted) for run in runs] == [("done", False, 1)]
        assert db.session.get(Blob, digest) is None
        assert current_storage().stat(blob_path(digest)) is None


def test_the_scheduler_thread_does_not_fire_before_the_time(app):
    with app.app_context():
        set_schedule("admin", "0 0 0 * * *")
    fake = FakeTime(datetime(2026, 11, 27, 23, 58, 45))
    scheduler.run_scheduler(app, clock=fake.clock, sleep=fake.sleep, ticks=2)  # to 23:59:45
    with app.app_context():
        assert scheduled_runs() == []


def test_five_field_schedule_fires_once_per_time(app):
    state = gc_jobs.ScheduleState()
    with app.app_context():
        set_schedule("admin", "*/5 * * * *")
        garbage_blob()
        start = datetime(2026, 11, 27, 12, 1, 0)
        fired = []
        for tick in range(21):  # every 30 s from 12:01:00 to 12:11:00
            now = start + timedelta(seconds=30 * tick)
            run = gc_jobs.run_scheduled_gc_if_due(state, now)
            if run is not None:
                fired.append((now, run.state))
        assert fired == [
            (datetime(2026, 11, 27, 12, 5), "done"),
            (datetime(2026, 11, 27, 12, 10), "done"),
        ]
        assert [run.blobs_deleted for run in scheduled_runs()] == [1, 0]


def test_no_schedule_never_fires_and_a_change_counts_from_now(app):
    state = gc_jobs.ScheduleState()
    with app.app_context():
        for minute in range(0, 120, 7):
            now = datetime(2026, 11, 27, 12, 0) + timedelta(minutes=minute)
            assert gc_jobs.run_scheduled_gc_if_due(state, now) is None
        set_schedule("admin", "@hourly")
        now = datetime(2026, 11, 27, 14, 0, 5)
        assert gc_jobs.run_scheduled_gc_if_due(state, now) is None  # seen, counts from now
        assert state.next_due == datetime(2026, 11, 27, 15)
        set_schedule("admin", "")
        assert gc_jobs.run_scheduled_gc_if_due(state, datetime(2026, 11, 27, 15, 0, 1)) is None
        assert state.next_due is None and scheduled_runs() == []


def test_another_process_already_ran_this_scheduled_time(app):
    with app.app_context():
        set_schedule("admin", "@hourly")
        state = gc_jobs.ScheduleState()
        gc_jobs.run_scheduled_gc_if_due(state, datetime(2026, 11, 27, 12, 30))
        # another DTR process sharing the database started the 13:00 run
        db.session.add(
            GcRun(
                triggered_by="schedule:2026-11-27T13:00:00Z",
                holder="elsewhere",
                state="done",
                started_at=datetime(2026, 11, 27, 13, 0, 2),
            )
        )
        db.session.commit()
        assert gc_jobs.run_scheduled_gc_if_due(state, datetime(2026, 11, 27, 13, 0, 10)) is None
        assert len(scheduled_runs()) == 1
        assert state.next_due == datetime(2026, 11, 27, 14)


def test_a_scheduled_time_waits_for_a_running_collection_instead_of_being_skipped(app):
    with app.app_context():
        set_schedule("admin", "@hourly")
        state = gc_jobs.ScheduleState()
        gc_jobs.run_scheduled_gc_if_due(state, datetime(2026, 11, 27, 12, 30))
        assert take_lease(LEASE, "a collection started by hand", 3600)
        db.session.commit()
        for minute in (0, 1, 2):  # ticks while it runs
            tick = datetime(2026, 11, 27, 13, minute, 5)
            assert gc_jobs.run_scheduled_gc_if_due(state, tick) is None
        assert scheduled_runs() == []
        release_lease(LEASE, "a collection started by hand")
        db.session.commit()
        run = gc_jobs.run_scheduled_gc_if_due(state, datetime(2026, 11, 27, 13, 3, 5))
        assert run is not None and run.triggered_by == "schedule:2026-11-27T13:00:00Z"
        assert len(scheduled_runs()) == 1
        assert state.next_due == datetime(2026, 11, 27, 14)
