"""The logs: the ring of recent lines (numbering, filters, since/limit, concurrent writers,
waiting for new lines), the handler's routing to components, rotating files, and that
configuring logging twice in a process installs nothing twice."""

import logging
import threading
import time

import pytest

from dtr import create_app, logs
from dtr.errors import InvalidInput
from dtr.logs import COMPONENTS, LogFilter, LogRing, StreamLimit, parse_query


def entry(component="registry", level="INFO", message="hello", **fields):
    return {
        "time": "2025-01-01T00:00:00.000Z",
        "component": component,
        "level": level,
        "logger": f"dtr.{component}",
        "message": message,
        **fields,
    }


@pytest.fixture
def ring():
    ring = LogRing(size=100)
    lines = [
        ("registry", "INFO", "GET /v2/ 200"),
        ("auth", "WARNING", "login failed for 'bob'"),
        ("registry", "ERROR", "GET /v2/x/manifests/latest 500"),
        ("api", "INFO", "GET /api/v0/accounts 200"),
        ("auth", "INFO", "token issued to alice"),
    ]
    for component, level, message in lines:
        ring.append(entry(component, level, message))
    return ring


def messages(entries):
    return [e["message"] for e in entries]


def test_lines_are_numbered_across_components_in_order(ring):
    entries, last = ring.select()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert last == ring.last_seq == 5
    assert ring.append(entry())["seq"] == 6


def test_component_filter(ring):
    entries, _ = ring.select(LogFilter(component="auth"))
    assert messages(entries) == ["login failed for 'bob'", "token issued to alice"]


def test_level_filter_is_the_lowest_level(ring):
    entries, _ = ring.select(LogFilter(level="WARNING"))
    assert [e["level"] for e in entries] == ["WARNING", "ERROR"]
    entries, _ = ring.select(LogFilter(level="ERROR"))
    assert messages(entries) == ["GET /v2/x/manifests/latest 500"]


def test_text_filter_ignores_case_and_sees_the_whole_line(ring):
    entries, _ = ring.select(LogFilter(text="MANIFESTS"))
    assert messages(entries) == ["GET /v2/x/manifests/latest 500"]
    ring.append(entry(message="something", user="carol", client="10.0.0.9"))
    entries, _ = ring.select(LogFilter(text="user=carol"))
    assert messages(entries) == ["something"]
    entries, _ = ring.select(LogFilter(component="api", text="token"))
    assert entries == []


def test_without_since_the_newest_lines_oldest_first(ring):
    entries, last = ring.select(limit=2)
    assert [e["seq"] for e in entries] == [4, 5]
    assert last == 5
    entries, _ = ring.select(LogFilter(component="registry"), limit=1)
    assert [e["seq"] for e in entries] == [3]


def test_since_pages_forward_and_the_cursor_continues(ring):
    entries, cursor = ring.select(since=1, limit=2)
    assert [e["seq"] for e in entries] == [2, 3]
    assert cursor == 3
    entries, cursor = ring.select(since=cursor, limit=2)
    assert [e["seq"] for e in entries] == [4, 5]
    entries, cursor = ring.select(since=cursor, limit=2)
    assert (entries, cursor) == ([], 5)
    ring.append(entry(message="new"))
    entries, cursor = ring.select(since=cursor)
    assert messages(entries) == ["new"] and cursor == 6


def test_a_filtered_since_moves_the_cursor_past_lines_that_do_not_match(ring):
    entries, cursor = ring.select(LogFilter(component="api"), since=0)
    assert messages(entries) == ["GET /api/v0/accounts 200"]
    assert cursor == 5  # nothing up to 5 is left to see


def test_the_ring_keeps_the_last_lines_of_each_component():
    ring = LogRing(size=3)
    for number in range(10):
        ring.append(entry("registry", message=f"r{number}"))
    ring.append(entry("auth", message="a0"))
    entries, _ = ring.select(limit=100)
    assert messages(entries) == ["r7", "r8", "r9", "a0"]  # auth keeps its line
    assert [e["seq"] for e in entries] == [8, 9, 10, 11]


def test_concurrent_writers_get_unique_consecutive_numbers():
    ring = LogRing(size=10_000)
    threads_count, per_thread = 8, 500
    start = threading.Barrier(threads_count)

    def write(index):
        start.wait()
        for number in range(per_thread):
            ring.append(entry(COMPONENTS[index], message=f"{index}:{number}"))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries, last = ring.select(limit=logs.MAX_LIMIT)
    assert last == threads_count * per_thread
    assert [e["seq"] for e in entries] == list(range(1, last + 1))
    every = []
    for component in COMPONENTS:
        lines, _ = ring.select(LogFilter(component=component), since=0, limit=logs.MAX_LIMIT)
        numbers = [int(e["message"].split(":")[1]) for e in lines]
        assert numbers == list(range(per_thread)), component  # each writer's order is kept
        every += [e["seq"] for e in lines]
    assert sorted(every) == list(range(1, last + 1))


def test_wait_after_wakes_on_a_new_line_and_times_out_without():
    ring = LogRing()
    started = time.monotonic()
    assert ring.wait_after(0, 0.2) is False
    assert time.monotonic() - started >= 0.19
    threading.Timer(0.1, lambda: ring.append(entry())).start()
    started = time.monotonic()
    assert ring.wait_after(0, 5) is True
    assert time.monotonic() - started < 2


def test_follow_yields_new_matching_lines_heartbeats_and_ends():
    ring = LogRing()
    ring.append(entry(message="before"))
    stream = ring.follow(LogFilter(component="auth"), None, heartbeat=0.3, lifetime=1.5)

    def later():
        ring.append(entry("registry", message="not for this stream"))
        ring.append(entry("auth", message="login failed"))

    threading.Timer(0.1, later).start()
    started = time.monotonic()
    assert messages(next(stream)) == ["login failed"]
    assert time.monotonic() - started < 1
    assert next(stream) == []  # quiet: a heartbeat
    rest = list(stream)
    assert all(batch == [] for batch in rest)
    assert time.monotonic() - started < 2.5


def test_follow_ends_soon_after_the_client_left():
    ring = LogRing()
    left = threading.Event()
    threading.Timer(0.2, left.set).start()
    stream = ring.follow(
        LogFilter(),
        None,
        heartbeat=60,
        lifetime=60,
        connected=lambda: not left.is_set(),
        check_every=0.1,
    )
    started = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - started < 1


def test_follow_after_a_restart_starts_from_the_oldest_line():
    ring = LogRing()
    ring.append(entry(message="first since the restart"))
    stream = ring.follow(LogFilter(), since=9999, heartbeat=0.1, lifetime=0.5)
    assert messages(next(stream)) == ["first since the restart"]


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
    ],
)
def test_bad_queries_say_which_parameter(args, message):
    with pytest.raises(InvalidInput) as failure:
        parse_query(args)
    assert message in failure.value.message


def test_queries_are_read_with_defaults():
    assert parse_query({}) == (LogFilter(), None, 200)
    parsed = parse_query({"component": "GC", "level": "warning", "q": " disk ", "since": "7"})
    assert parsed == (LogFilter("gc", "WARNING", "disk"), 7, 200)


def test_stream_limit_refuses_beyond_it_and_releases_once():
    limit = StreamLimit(2)
    first, second = limit.acquire(), limit.acquire()
    assert first and second and limit.acquire() is None
    first()
    first()  # a second release changes nothing
    third = limit.acquire()
    assert third is not None and limit.acquire() is None


# --- the handler, files, configuration ---------------------------------------------------------


def component_handlers():
    return [h for h in logging.getLogger("dtr").handlers if isinstance(h, logs.ComponentHandler)]


def test_configuring_twice_installs_one_handler_and_follows_the_instance(tmp_path):
    create_app(tmp_path / "one")
    create_app(tmp_path / "two")
    assert len(component_handlers()) == 1
    marker = f"marker {time.monotonic_ns()}"
    logs.component_logger("gc").info(marker)
    found, _ = logs.RING.select(LogFilter(text=marker))
    assert len(found) == 1
    assert found[0]["component"] == "gc" and found[0]["logger"] == "dtr.gc"
    files = {path.name for path in (tmp_path / "two" / "logs").iterdir()}
    assert files == {f"{name}.log" for name in COMPONENTS}
    assert (tmp_path / "two" / "logs" / "gc.log").read_text().count(marker) == 1
    assert marker not in (tmp_path / "one" / "logs" / "gc.log").read_text()


def test_child_loggers_belong_to_their_component_and_errors_keep_the_trace(tmp_path):
    create_app(tmp_path / "instance")
    marker = f"directory {time.monotonic_ns()}"
    try:
        raise RuntimeError("the server went away")
    except RuntimeError:
        logging.getLogger("dtr.auth.ldap_directory").exception(marker)
    (found,), _ = logs.RING.select(LogFilter(text=marker))
    assert found["component"] == "auth" and found["level"] == "ERROR"
    assert "RuntimeError: the server went away" in found["exception"]
    text = (tmp_path / "instance" / "logs" / "auth.log").read_text()
    assert marker in text and "Traceback" in text


def test_files_rotate(tmp_path):
    create_app(tmp_path / "instance", {"LOG_FILE_BYTES": 2000, "LOG_FILE_BACKUPS": 2})
    log = logs.component_logger("registry")
    for number in range(200):
        log.info("line %s of a log that grows past its file size", number)
    folder = tmp_path / "instance" / "logs"
    assert (folder / "registry.log.1").exists() and (folder / "registry.log.2").exists()
    assert not (folder / "registry.log.3").exists()
    assert (folder / "registry.log").stat().st_size <= 2000
    assert "line 199 " in (folder / "registry.log").read_text()


def test_requests_are_logged_to_the_component_of_their_path(tmp_path):
    app = create_app(tmp_path / "instance")
    client = app.test_client()
    for path in ("/v2/nothing/here", "/auth/nothing?password=hunter2&account=x", "/nowhere"):
        client.get(path)
    lines, _ = logs.RING.select(since=logs.RING.last_seq - 3)
    by_path = {line["path"]: line for line in lines if "path" in line}
    assert by_path["/v2/nothing/here"]["component"] == "registry"
    assert by_path["/auth/nothing?account&password"]["component"] == "auth"
    assert by_path["/nowhere"]["component"] == "web"
    line = by_path["/nowhere"]
    assert line["status"] == 404 and line["method"] == "GET" and line["client"] == "127.0.0.1"
    assert isinstance(line["bytes"], int) and line["durationMs"] >= 0
    assert "hunter2" not in str(lines)


def test_a_path_cannot_forge_a_line_of_the_file(tmp_path):
    app = create_app(tmp_path / "instance")
    app.test_client().get("/x%0A2025-01-01T00:00:00Z INFO auth: forged")
    text = (tmp_path / "instance" / "logs" / "web.log").read_text()
    assert "/x\\n2025-01-01" in text
    assert not any(line.startswith("2025-01-01T00:00:00Z") for line in text.splitlines())


def test_the_event_stream_format():
    from dtr.web.logs_page import _events

    traced = entry("auth", "ERROR", "<b>bad</b>", exception="Traceback\n  line\nError: x")
    traced["seq"] = 42
    chunks = list(_events(iter([[], [traced]])))
    assert chunks[0] == "retry: 3000\n\n"
    assert chunks[1] == ": keep-alive\n\n"
    assert chunks[2] == (
        "event: line\nid: 42\n"
        'data: <div class="log-line error" data-seq="42">2025-01-01T00:00:00.000Z ERROR auth: '
        "&lt;b&gt;bad&lt;/b&gt;<pre>Traceback\n"
        "data:   line\n"
        "data: Error: x</pre></div>\n\n"
    )
