"""The logs: the handler's routing to components, rotating files, lines reaching the
database through the shipper, the request log, configuring logging twice in a process
installs nothing twice, the live streams' cap and event format. (The shipper and the queries:
test_log_shipper.py, test_log_queries.py.)"""

import logging
import time

from flask_migrate import upgrade

from dtr import create_app, logs
from dtr.database import db
from dtr.log_queries import LogFilter, select_lines
from dtr.log_shipper import SHIPPER
from dtr.logs import COMPONENTS, StreamLimit
from tests.unit.log_table import entry


def migrated_app(folder, overrides=None):
    app = create_app(folder, overrides)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app


def stored_lines(app, **filters):
    """The lines in `app`'s database (those logged so far are stored first)."""
    SHIPPER.flush()
    with app.app_context():
        return select_lines(db.engine, LogFilter(**filters), since=0, limit=5000)[0]


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
    one = migrated_app(tmp_path / "one", {"REPLICA_NAME": "first"})
    two = migrated_app(tmp_path / "two", {"REPLICA_NAME": "second"})
    assert len(component_handlers()) == 1
    marker = f"marker {time.monotonic_ns()}"
    logs.component_logger("gc").info(marker)
    found = stored_lines(two, text=marker)
    assert len(found) == 1
    assert found[0]["component"] == "gc" and found[0]["logger"] == "dtr.gc"
    assert found[0]["replica"] == "second"
    assert stored_lines(one, text=marker) == []
    files = {path.name for path in (tmp_path / "two" / "logs").iterdir()}
    assert files == {f"{name}.log" for name in COMPONENTS}
    assert (tmp_path / "two" / "logs" / "gc.log").read_text().count(marker) == 1
    assert marker not in (tmp_path / "one" / "logs" / "gc.log").read_text()


def test_child_loggers_belong_to_their_component_and_errors_keep_the_trace(tmp_path):
    app = migrated_app(tmp_path / "instance")
    marker = f"directory {time.monotonic_ns()}"
    try:
        raise RuntimeError("the server went away")
    except RuntimeError:
        logging.getLogger("dtr.auth.ldap_directory").exception(marker)
    (found,) = stored_lines(app, text=marker)
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
    app = migrated_app(tmp_path / "instance")
    client = app.test_client()
    for path in ("/v2/nothing/here", "/auth/nothing?password=hunter2&account=x", "/nowhere"):
        client.get(path)
    lines = stored_lines(app)
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
    traced.update(seq=42, replica="<east>")
    chunks = list(_events(iter([[], [traced]])))
    assert chunks[0] == "retry: 3000\n\n"
    assert chunks[1] == ": keep-alive\n\n"
    assert chunks[2] == (
        "event: line\nid: 42\n"
        'data: <div class="log-line error" data-seq="42"><span class="log-replica">&lt;east&gt;'
        "</span> 2025-01-01T00:00:00.000Z ERROR auth: "
        "&lt;b&gt;bad&lt;/b&gt;<pre>Traceback\n"
        "data:   line\n"
        "data: Error: x</pre></div>\n\n"
    )
