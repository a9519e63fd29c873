"""Request metrics, measured around the whole WSGI application: requests by route template
and status, their duration, and the body bytes read and sent.

The route is the URL rule Flask matched (`/v2/<path:name>/manifests/<reference>`), noted
by a before-request hook; a request that matched none is `unmatched`. Bytes received are
what the application read from `wsgi.input` (chunked bodies included); bytes sent are
the chunks of the response body as the server takes them, so a streamed blob counts what
was streamed. A request is recorded once its body has been handed over (or closed early,
a client that hung up). A file the server sends itself (gunicorn's sendfile, through
`wsgi.file_wrapper`) is recorded when the view returns, counted by its Content-Length,
and its response passed on untouched so that sendfile still applies: a client that hangs
up midway is counted in full, and the duration does not include the transfer.
"""

import time

from flask import request

from .instruments import (
    METHODS,
    OTHER_METHOD,
    UNMATCHED,
    http_request_body_bytes,
    http_request_duration,
    http_requests,
    http_response_body_bytes,
)

ROUTE_KEY = "dtr.metrics.route"


def measure_requests(app):
    """Wrap `app`'s WSGI application in the request metrics."""
    app.wsgi_app = RequestMetrics(app.wsgi_app)
    app.before_request_funcs.setdefault(None, []).insert(0, _note_route)


def _note_route():
    rule = request.url_rule
    if rule is not None:
        request.environ[ROUTE_KEY] = rule.rule


class CountingInput:
    """`wsgi.input`, counting the bytes read through it."""

    __slots__ = ("stream", "count")

    def __init__(self, stream):
        self.stream = stream
        self.count = 0

    def read(self, *size):
        data = self.stream.read(*size)
        self.count += len(data)
        return data

    def readline(self, *size):
        data = self.stream.readline(*size)
        self.count += len(data)
        return data

    def readlines(self, *hint):
        lines = self.stream.readlines(*hint)
        self.count += sum(map(len, lines))
        return lines

    def __iter__(self):
        for line in self.stream:
            self.count += len(line)
            yield line

    def close(self):
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


class RequestMetrics:
    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        body = environ.get("wsgi.input")
        counted = environ["wsgi.input"] = CountingInput(body) if body is not None else None
        answer = {}

        def start(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, exc_info)

        try:
            iterable = self.wsgi_app(environ, start)
        except BaseException:
            answer["status"] = "500"
            _record(environ, answer, started, counted, 0)
            raise
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(wrapper, type) and isinstance(iterable, wrapper):
            _record(environ, answer, started, counted, _content_length(answer))
            return iterable
        return CountedBody(iterable, environ, answer, started, counted)


class CountedBody:
    """A response body counting its chunks; the request is recorded when it closes."""

    __slots__ = ("iterable", "environ", "answer", "started", "counted", "sent", "done")

    def __init__(self, iterable, environ, answer, started, counted):
        self.iterable = iterable
        self.environ = environ
        self.answer = answer
        self.started = started
        self.counted = counted
        self.sent = 0
        self.done = False

    def __iter__(self):
        for chunk in self.iterable:
            self.sent += len(chunk)
            yield chunk
        self._record()

    def close(self):
        try:
            close = getattr(self.iterable, "close", None)
            if close is not None:
                close()
        finally:
            self._record()  # a client that hung up midway: what was sent

    def _record(self):
        if not self.done:
            self.done = True
            _record(self.environ, self.answer, self.started, self.counted, self.sent)


def _content_length(answer) -> int:
    for name, value in answer.get("headers") or ():
        if name.lower() == "content-length":
            return int(value) if value.isdecimal() else 0
    return 0


_series = {}  # (method, route, status) -> its children of the four metrics (bounded)


def _series_of(method, route, status):
    """The labelled children of one kind of request, looked up once: `labels()` costs more
    than the increments themselves."""
    key = (method, route, status)
    found = _series.get(key)
    if found is None:
        found = _series[key] = (
            http_requests.labels(method, route, status),
            http_request_duration.labels(method, route),
            http_request_body_bytes.labels(route),
            http_response_body_bytes.labels(route),
        )
    return found


def _record(environ, answer, started, counted, sent):
    method = environ.get("REQUEST_METHOD", "")
    requests, duration, received, sent_bytes = _series_of(
        method if method in METHODS else OTHER_METHOD,
        environ.get(ROUTE_KEY, UNMATCHED),
        answer.get("status", "500")[:3],
    )
    requests.inc()
    duration.observe(time.perf_counter() - started)
    if counted is not None and counted.count:
        received.inc(counted.count)
    if sent:
        sent_bytes.inc(sent)
