"""Reading the log lines of every replica from the database: one sequence across components
and replicas, filters (component, level, replica, text), since/limit and the cursor, and
live streams (new lines, heartbeats, their end)."""

import threading
import time

import pytest

from dtr import log_queries
from dtr.errors import InvalidInput
from dtr.log_queries import LogFilter, follow, parse_query, replicas, select_lines
from dtr.log_shipper import LogShipper
from tests.unit.log_table import entry, log_engine


def shipper_for(engine, replica):
    shipper = LogShipper()
    shipper.configure(engine, replica, capacity=10_000, interval=0.5, keep=5000)
    return shipper


@pytest.fixture
def engine(tmp_path):
    engine = log_engine(tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def east(engine):
    return shipper_for(engine, "east")


@pytest.fixture
def west(engine):
    return shipper_for(engine, "west")


def log(shipper, *entries):
    for line in entries:
        shipper.put(line)
    shipper.flush()


@pytest.fixture
def lines(engine, east, west):
    log(east, entry("registry", "INFO", "GET /v2/ 200"))
    log(west, entry("auth", "WARNING", "login failed for 'bob'"))
    log(east, entry("registry", "ERROR", "GET /v2/x/manifests/latest 500"))
    log(west, entry("api", "INFO", "GET /api/v0/accounts 200"))
    log(east, entry("auth", "INFO", "token issued to alice"))
    return engine


def messages(entries):
    return [e["message"] for e in entries]


def test_lines_of_every_replica_are_numbered_in_one_order(lines, east):
    entries, last = select_lines(lines)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert [e["replica"] for e in entries] == ["east", "west", "east", "west", "east"]
    assert last == log_queries.last_number(lines) == 5
    assert entries[0]["time"] == "2025-01-01T00:00:00.000Z"
    assert replicas(lines) == ["east", "west"]


def test_component_filter(lines):
    entries, _ = select_lines(lines, LogFilter(component="auth"))
    assert messages(entries) == ["login failed for 'bob'", "token issued to alice"]


def test_level_filter_is_the_lowest_level(lines):
    entries, _ = select_lines(lines, LogFilter(level="WARNING"))
    assert [e["level"] for e in entries] == ["WARNING", "ERROR"]
    entries, _ = select_lines(lines, LogFilter(level="ERROR"))
    assert messages(entries) == ["GET /v2/x/manifests/latest 500"]


def test_replica_filter(lines):
    entries, _ = select_lines(lines, LogFilter(replica="west"))
    assert messages(entries) == ["login failed for 'bob'", "GET /api/v0/accounts 200"]
    assert select_lines(lines, LogFilter(replica="north"))[0] == []


def test_text_filter_ignores_case_and_sees_the_whole_line_and_its_replica(lines, east):
    entries, _ = select_lines(lines, LogFilter(text="MANIFESTS"))
    assert messages(entries) == ["GET /v2/x/manifests/latest 500"]
    log(east, entry(message="something", user="carol", client="10.0.0.9"))
    entries, _ = select_lines(lines, LogFilter(text="user=carol"))
    assert messages(entries) == ["something"]
    assert entries[0]["user"] == "carol" and entries[0]["client"] == "10.0.0.9"
    entries, _ = select_lines(lines, LogFilter(component="api", text="token"))
    assert entries == []
    entries, _ = select_lines(lines, LogFilter(text="west 2025-01-01"))
    assert len(entries) == 2


def test_without_since_the_newest_lines_oldest_first(lines):
    entries, last = select_lines(lines, limit=2)
    assert [e["seq"] for e in entries] == [4, 5]
    assert last == 5
    entries, _ = select_lines(lines, LogFilter(component="registry"), limit=1)
    assert [e["seq"] for e in entries] == [3]


def test_since_pages_forward_and_the_cursor_continues(lines, west):
    entries, cursor = select_lines(lines, since=1, limit=2)
    assert [e["seq"] for e in entries] == [2, 3]
    assert cursor == 3
    entries, cursor = select_lines(lines, since=cursor, limit=2)
    assert [e["seq"] for e in entries] == [4, 5]
    entries, cursor = select_lines(lines, since=cursor, limit=2)
    assert (entries, cursor) == ([], 5)
    log(west, entry(message="new"))
    entries, cursor = select_lines(lines, since=cursor)
    assert messages(entries) == ["new"] and cursor == 6


def test_a_filtered_since_moves_the_cursor_past_lines_that_do_not_match(lines):
    entries, cursor = select_lines(lines, LogFilter(component="api"), since=0)
    assert messages(entries) == ["GET /api/v0/accounts 200"]
    assert cursor == 5  # nothing up to 5 is left to see


def test_a_text_filter_reads_in_chunks_both_ways(engine, east, monkeypatch):
    monkeypatch.setattr(log_queries, "CHUNK", 7)
    log(east, *(entry(message=f"{'needle' if n % 10 == 0 else 'hay'} {n}") for n in range(100)))
    found = LogFilter(text="needle")
    entries, last = select_lines(engine, found, limit=3)
    assert messages(entries) == ["needle 70", "needle 80", "needle 90"] and last == 100
    entries, cursor = select_lines(engine, found, since=0, limit=4)
    assert messages(entries) == ["needle 0", "needle 10", "needle 20", "needle 30"]
    assert cursor == 31
    entries, cursor = select_lines(engine, found, since=cursor)
    assert messages(entries) == [f"needle {n}" for n in range(40, 100, 10)] and cursor == 100


def test_follow_yields_new_matching_lines_heartbeats_and_ends(lines, west):
    stream = follow(
        lines, LogFilter(component="auth"), None, heartbeat=0.3, lifetime=1.5, poll=0.05
    )

    def later():
        log(west, entry("registry", message="not for this stream"))
        log(west, entry("auth", message="login failed"))

    threading.Timer(0.1, later).start()
    started = time.monotonic()
    assert messages(next(stream)) == ["login failed"]
    assert time.monotonic() - started < 1
    assert next(stream) == []  # quiet: a heartbeat
    rest = list(stream)
    assert all(batch == [] for batch in rest)
    assert time.monotonic() - started < 2.5


def test_follow_ends_soon_after_the_client_left(lines):
    left = threading.Event()
    threading.Timer(0.2, left.set).start()
    stream = follow(
        lines,
        LogFilter(),
        None,
        heartbeat=60,
        lifetime=60,
        connected=lambda: not left.is_set(),
        poll=0.1,
    )
    started = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - started < 1


def test_follow_beyond_the_last_line_starts_from_the_oldest(lines):
    stream = follow(lines, LogFilter(), since=9999, heartbeat=0.1, lifetime=0.5, poll=0.05)
    assert len(next(stream)) == 5


def test_follow_sends_a_burst_in_batches_without_waiting(engine, east, monkeypatch):
    monkeypatch.setattr(log_queries, "STREAM_BATCH", 10)
    log(east, *(entry(message=f"{n}") for n in range(25)))
    stream = follow(engine, LogFilter(), since=0, heartbeat=60, lifetime=60, poll=0.3)
    started = time.monotonic()
    sizes = [len(next(stream)) for _ in range(3)]
    assert sizes == [10, 10, 5]
    assert time.monotonic() - started < 0.5  # one wait, not three


@pytest.mark.parametrize(
    "args, message",
    [
        ({"component": "kernel"}, "component: one of"),
        ({"level": "loud"}, "level: one of"),
        ({"since": "-1"}, "since: an integer"),
        ({"since": "x"}, "since: an integer"),
        ({"limit": "0"}, "limit: an integer from 1"),
        ({"limit": "5001"}, "limit: an integer from 0 to 5000"),
        ({"q": "x" * 201}, "q: at most 200"),
        ({"replica": "r" * 256}, "replica: at most 255"),
    ],
)
def test_bad_queries_say_which_parameter(args, message):
    with pytest.raises(InvalidInput) as failure:
        parse_query(args)
    assert message in failure.value.message


def test_queries_are_read_with_defaults():
    assert parse_query({}) == (LogFilter(), None, 200)
    parsed = parse_query(
        {"component": "GC", "level": "warning", "q": " disk ", "since": "7", "replica": " a "}
    )
    assert parsed == (LogFilter("gc", "WARNING", "disk", "a"), 7, 200)
