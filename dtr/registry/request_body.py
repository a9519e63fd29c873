"""The request body as a stream to copy from."""

from flask import request


def body_stream():
    """The server's input stream when the server bounds the body itself (gunicorn sets
    `wsgi.input_terminated`), which skips werkzeug's wrapper and its copies; otherwise the
    bounded werkzeug stream."""
    environ = request.environ
    if environ.get("wsgi.input_terminated"):
        return environ["wsgi.input"]
    return request.stream
