"""Settings > Logs: the recent lines of every replica (or one), of one component or all,
filtered by level and text, and new lines followed live: GET /logs/stream, server-sent events
for the htmx SSE extension.

A stream holds one of the server's threads for its life, so there are at most
LOG_STREAM_LIMIT of them at a time (503 beyond), each ends after LOG_STREAM_SECONDS (the
browser reconnects, sending the last line's number as Last-Event-ID), sends a comment as
heartbeat when quiet, and ends within seconds of the browser leaving."""

import select

from flask import Response, current_app, request, url_for
from markupsafe import Markup

from ..database import db
from ..errors import InvalidInput
from ..log_queries import LogFilter, follow, parse_query, replicas, select_lines
from ..log_shipper import SHIPPER
from ..logs import COMPONENTS, LEVELS, render_line, setting
from .navigation import settings_tabs
from .rendering import htmx_target, page
from .settings_pages import admin

PAGE_LINES = 200


def logs_tab():
    admin()
    error = None
    try:
        log_filter, _since, limit = parse_query(request.args, PAGE_LINES)
    except InvalidInput as failure:
        error, log_filter, limit = failure.message, LogFilter(), PAGE_LINES
    SHIPPER.flush()  # this process's lines so far: an admin sees what they just did
    lines, last = select_lines(db.engine, log_filter, limit=limit)
    context = {
        "log_filter": log_filter,
        "lines": lines[::-1],  # newest first: the view stacks them bottom-up
        "stream_url": url_for("web.log_stream", since=last, **filter_arguments(log_filter)),
        "components": COMPONENTS,
        "levels": LEVELS,
        "replicas": replicas(db.engine),
        "keep_lines": setting(current_app.config, "LOG_KEEP_LINES"),
        "line_html": line_html,
        "error": error,
    }
    if htmx_target() == "log-view":
        return page("settings/_log_view.html", **context)
    status = 400 if error else 200
    return page("settings/logs.html", status, tab="logs", tabs=settings_tabs(), **context)


def filter_arguments(log_filter: LogFilter) -> dict:
    arguments = {
        "component": log_filter.component,
        "level": log_filter.level,
        "q": log_filter.text,
        "replica": log_filter.replica,
    }
    return {key: value for key, value in arguments.items() if value}


def line_html(entry) -> Markup:
    """One line as HTML (escaped), for the page and for the stream's events: its replica,
    then the line as the component's file has it."""
    exception = entry.get("exception")
    return Markup(
        '<div class="log-line {}" data-seq="{}"><span class="log-replica">{}</span> {}{}</div>'
    ).format(
        entry["level"].lower(),
        entry["seq"],
        entry["replica"],
        render_line(entry),
        Markup("<pre>{}</pre>").format(exception) if exception else "",
    )


def log_stream():
    admin()
    log_filter, since, _limit = parse_query(request.args)
    last_seen = request.headers.get("Last-Event-ID", "").strip()
    if last_seen.isdecimal():  # a reconnection: go on after the last line received
        since = int(last_seen)
    config = current_app.config
    release = current_app.extensions["dtr_log_streams"].acquire()
    if release is None:
        return Response(
            "Too many live log streams are open; try again later.\n",
            503,
            {"Retry-After": "30"},
            mimetype="text/plain",
        )
    batches = follow(
        db.engine,
        log_filter,
        since,
        heartbeat=setting(config, "LOG_STREAM_HEARTBEAT_SECONDS"),
        lifetime=setting(config, "LOG_STREAM_SECONDS"),
        connected=_connection_check(request.environ),
    )
    response = Response(
        _events(batches),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(release)
    return response


def _connection_check(environ):
    """A function telling whether the browser is still connected, so a stream it left ends
    within seconds rather than at a failed heartbeat write. An EventSource sends nothing
    after its request: a readable socket means the peer closed it. Under gunicorn only
    (which gives the socket); elsewhere, heartbeats find out."""
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return lambda: True
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    return lambda: not poller.poll(0)


def _events(batches):
    """The event stream: an event `line` per log line, its number as id; a comment when
    quiet. Touches no request state (it runs after the request context ended)."""
    yield "retry: 3000\n\n"
    for entries in batches:
        if not entries:
            yield ": keep-alive\n\n"
        for entry in entries:
            data = "".join(f"data: {part}\n" for part in str(line_html(entry)).splitlines())
            yield f"event: line\nid: {entry['seq']}\n{data}\n"
