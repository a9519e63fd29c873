"""The log shipper: lines wait in a bounded queue and reach the database in batches, one
transaction each, from a thread of their own; a full queue or a database that refuses a batch
loses lines to the database (counted, and said once lines are stored again); old lines are
pruned per component; at exit, what waits is stored."""

import logging
import time

import pytest
from sqlalchemy import event, func, select

from dtr import log_shipper
from dtr.log_shipper import TABLE, LogShipper
from tests.unit.log_table import entry, log_engine


@pytest.fixture
def engine(tmp_path):
    engine = log_engine(tmp_path)
    yield engine
    engine.dispose()


def shipper_for(engine, replica="one", capacity=10_000, interval=0.5, keep=5000):
    shipper = LogShipper()
    shipper.configure(engine, replica, capacity=capacity, interval=interval, keep=keep)
    return shipper


def stored(engine):
    with engine.connect() as connection:
        return list(connection.execute(select(TABLE).order_by(TABLE.c.id)))


def count_transactions(engine):
    begun = []
    event.listen(engine, "begin", lambda connection: begun.append(1))
    return begun


def test_lines_wait_until_a_flush_writes_them_in_batches_of_one_transaction(engine, monkeypatch):
    monkeypatch.setattr(log_shipper, "MAX_BATCH", 100)
    shipper = shipper_for(engine)
    for number in range(250):
        shipper.put(entry(message=f"line {number}", method="GET", status=200))
    assert stored(engine) == []  # logging never touches the database
    begun = count_transactions(engine)
    assert shipper.flush() == 250
    assert len(begun) == 4  # batches of 100, 100 and 50, then the prune due at the first flush
    rows = stored(engine)
    assert [row.message for row in rows] == [f"line {n}" for n in range(250)]
    assert [row.id for row in rows] == list(range(1, 251))
    first = rows[0]
    assert first.replica == "one" and first.component == "registry" and first.level == "INFO"
    assert first.logger == "dtr.registry" and first.time.year == 2025
    assert '"method": "GET"' in first.details and '"status": 200' in first.details
    assert shipper.flush() == 0


def test_the_thread_ships_every_interval_and_sooner_when_a_batch_waits(engine, monkeypatch):
    shipper = shipper_for(engine, interval=0.2)
    shipper.start()
    try:
        shipper.put(entry(message="soon"))
        deadline = time.monotonic() + 3
        while not stored(engine):
            assert time.monotonic() < deadline, "not shipped"
            time.sleep(0.05)
        shipper.interval = 60  # from the next wait on: only a full batch wakes it
        time.sleep(0.3)
        lines = [entry(message=f"burst {n}") for n in range(log_shipper.BATCH_LINES)]
        started = time.monotonic()
        for line in lines:
            shipper.put(line)
        while len(stored(engine)) < 1 + len(lines):
            assert time.monotonic() - started < 3, "a full batch did not wake the thread"
            time.sleep(0.05)
    finally:
        shipper.stop()


def test_a_full_queue_drops_lines_counts_them_and_says_so_once_stored(engine, caplog):
    shipper = shipper_for(engine, capacity=5)
    started = time.perf_counter()
    for number in range(8):
        shipper.put(entry(message=f"line {number}"))
    assert time.perf_counter() - started < 0.1  # never waits
    assert shipper.dropped == 3
    with caplog.at_level(logging.WARNING, logger="dtr.database"):
        assert shipper.flush() == 5
    assert [row.message for row in stored(engine)] == [f"line {n}" for n in range(5)]
    assert shipper.dropped == 0
    said = [r.getMessage() for r in caplog.records if "were not stored" in r.getMessage()]
    assert said == [
        "3 log lines were not stored in the database (it was slow or unreachable); the files "
        "under instance/logs have them"
    ]


def test_a_refused_batch_is_counted_and_said_once_until_the_database_is_back(
    engine, caplog, tmp_path
):
    shipper = shipper_for(engine)
    TABLE.drop(engine)  # as a database before its migrations, or one that is down
    with caplog.at_level(logging.WARNING, logger="dtr.database"):
        for round in range(3):
            shipper.put(entry(message=f"lost {round}"))
            assert shipper.flush() == 0
    failures = [
        r.getMessage() for r in caplog.records if "not stored in the database (" in r.getMessage()
    ]
    assert len(failures) == 1 and "no such table" in failures[0]
    assert "INSERT" not in failures[0]  # the database's reason, not the lines
    assert shipper.dropped == 3
    TABLE.create(engine)
    caplog.clear()
    shipper.put(entry(message="back"))
    with caplog.at_level(logging.WARNING, logger="dtr.database"):
        assert shipper.flush() == 1
    assert [row.message for row in stored(engine)] == ["back"]
    assert any(r.getMessage().startswith("3 log lines were not stored") for r in caplog.records)


def test_retention_keeps_the_newest_lines_of_each_component(engine, monkeypatch):
    shipper = shipper_for(engine, keep=3)
    for number in range(10):
        shipper.put(entry("registry", message=f"r{number}"))
    shipper.put(entry("auth", message="a0"))
    for number in range(10, 12):
        shipper.put(entry("registry", message=f"r{number}"))
    shipper.flush()  # the first flush prunes
    assert [row.message for row in stored(engine)] == ["r9", "a0", "r10", "r11"]
    for number in range(12, 20):
        shipper.put(entry("registry", message=f"r{number}"))
    shipper.flush()  # not due yet
    assert len(stored(engine)) == 12
    shipper.prune()
    assert [row.message for row in stored(engine)] == ["a0", "r17", "r18", "r19"]
    with engine.connect() as connection:
        assert connection.scalar(select(func.max(TABLE.c.id))) == 21  # numbers never reused


def test_text_either_database_takes(engine):
    shipper = shipper_for(engine)
    shipper.put(entry(message="a NUL \x00 and a surrogate \udcff", logger="dtr.x\x00"))
    assert shipper.flush() == 1
    (row,) = stored(engine)
    assert row.message == "a NUL \\x00 and a surrogate \\udcff"
    assert row.logger == "dtr.x\\x00"


def test_stop_stores_what_waits(engine):
    shipper = shipper_for(engine, interval=60)
    shipper.start()
    time.sleep(0.1)  # the thread waits its interval
    shipper.put(entry(message="at exit"))
    started = time.monotonic()
    shipper.stop()
    assert time.monotonic() - started < 2
    assert [row.message for row in stored(engine)] == ["at exit"]


def test_the_replica_name_is_the_setting_else_the_host_name():
    import socket

    assert log_shipper.replica_name({"REPLICA_NAME": " east-1 "}) == "east-1"
    assert log_shipper.replica_name({"REPLICA_NAME": ""}) == socket.gethostname()
    assert log_shipper.replica_name({}) == socket.gethostname()
