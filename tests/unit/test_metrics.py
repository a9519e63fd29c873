"""The pieces of dtr/metrics in one process (the default registry): storage errors counted
by backend and operation through the wrapped driver, the request middleware's bytes and
labels, the webhook delivery counter, the writer lock's wait histogram."""

import io

import pytest
from prometheus_client import REGISTRY

from dtr import access
from dtr.auth.identity import ANONYMOUS, METRICS, ROBOT, TOKEN, Identity
from dtr.metrics import instruments
from dtr.metrics.http import ROUTE_KEY, RequestMetrics
from dtr.metrics.storage_errors import CountingDriver
from dtr.storage import PathNotFound, StorageError, StorageFull


def sample(name, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class FailingWriter:
    size = 0

    def write(self, data):
        raise StorageFull("no room", 0)

    def commit(self):
        raise StorageError("commit failed")

    def close(self):
        pass

    def cancel(self):
        pass

    def truncate(self, size):
        pass


class FailingDriver:
    """A backend that fails every operation (a missing path is not a failure)."""

    def reader(self, path, offset=0):
        raise PathNotFound(path)

    def writer(self, path, append=False):
        return FailingWriter()

    def stat(self, path):
        raise StorageError("cannot stat")

    def list(self, prefix):
        yield "a"
        raise StorageError("listing broke")

    def move(self, source, destination):
        raise StorageError("cannot move")

    def delete(self, path):
        raise StorageError("cannot delete")

    def delete_files(self, paths):
        return {path: "refused" for path in paths}

    def local_path(self, path):
        return "/somewhere/" + path


def test_storage_errors_are_counted_by_backend_and_operation_and_raised_unchanged():
    driver = CountingDriver(FailingDriver(), "fake")
    before = {
        op: sample("dtr_storage_errors_total", backend="fake", operation=op)
        for op in ("stat", "move", "delete", "write", "commit", "list", "delete_files", "reader")
    }
    with pytest.raises(StorageError, match="cannot stat"):
        driver.stat("x")
    with pytest.raises(StorageError):
        driver.move("x", "y")
    with pytest.raises(StorageError):
        driver.delete("x")
    writer = driver.writer("x")
    with pytest.raises(StorageFull):
        writer.write(b"data")
    with pytest.raises(StorageError):
        writer.commit()
    with pytest.raises(StorageError):
        list(driver.list(""))
    assert driver.delete_files(["a", "b"]) == {"a": "refused", "b": "refused"}
    with pytest.raises(PathNotFound):
        driver.reader("missing")
    assert driver.local_path("p") == "/somewhere/p"  # the rest passes through

    def moved(op):
        return sample("dtr_storage_errors_total", backend="fake", operation=op) - before[op]

    assert {op: moved(op) for op in before} == {
        "stat": 1,
        "move": 1,
        "delete": 1,
        "write": 1,
        "commit": 1,
        "list": 1,
        "delete_files": 2,
        "reader": 0,  # PathNotFound: an answer, not a failure
    }


def _call(app, method="PUT", body=b"", file_wrapper=None):
    environ = {"REQUEST_METHOD": method, "wsgi.input": io.BytesIO(body)}
    if file_wrapper is not None:
        environ["wsgi.file_wrapper"] = file_wrapper
    answer = RequestMetrics(app)(environ, lambda status, headers, exc_info=None: None)
    chunks = list(answer)
    getattr(answer, "close", lambda: None)()
    return answer, chunks


def test_requests_are_counted_by_route_with_the_bytes_read_and_sent():
    route = "/v2/<path:name>/unit-test/<reference>"

    def app(environ, start_response):
        environ[ROUTE_KEY] = route
        environ["wsgi.input"].read(3)
        environ["wsgi.input"].readline()
        start_response("201 Created", [("Content-Length", "5")])
        return iter([b"ab", b"cde"])

    labels = {"method": "PUT", "route": route, "status": "201"}
    before = sample("dtr_http_requests_total", **labels)
    _, chunks = _call(app, body=b"0123456\nrest")
    assert chunks == [b"ab", b"cde"]
    assert sample("dtr_http_requests_total", **labels) == before + 1
    assert sample("dtr_http_request_body_bytes_total", route=route) == 8
    assert sample("dtr_http_response_body_bytes_total", route=route) == 5
    assert sample("dtr_http_request_duration_seconds_count", method="PUT", route=route) == 1


def test_odd_methods_and_unrouted_requests_have_bounded_labels():
    def app(environ, start_response):
        start_response("404 NOT FOUND", [])
        return [b""]

    _call(app, method="BREW")
    assert sample("dtr_http_requests_total", method="other", route="unmatched", status="404") >= 1


def test_a_file_sent_by_the_server_is_passed_on_untouched_and_counted_by_its_length():
    class FileWrapper:
        def __init__(self, data):
            self.data = data

        def __iter__(self):
            return iter([self.data])

    route = "/v2/<path:name>/unit-test-file/<digest>"

    def app(environ, start_response):
        environ[ROUTE_KEY] = route
        start_response("200 OK", [("Content-Length", "11")])
        return environ["wsgi.file_wrapper"](b"hello world")

    answer, _ = _call(app, method="GET", file_wrapper=FileWrapper)
    assert isinstance(answer, FileWrapper)  # gunicorn still sees its sendfile wrapper
    assert sample("dtr_http_response_body_bytes_total", route=route) == 11


def test_webhook_deliveries_are_counted_by_outcome():
    before = sample("dtr_webhook_deliveries_total", outcome="delivered")
    instruments.count_webhook_delivery("delivered")
    assert sample("dtr_webhook_deliveries_total", outcome="delivered") == before + 1
    with pytest.raises(ValueError):
        instruments.count_webhook_delivery("whatever")


def test_uploads_in_progress_go_up_and_down():
    before = sample("dtr_blob_uploads_in_progress")
    with pytest.raises(RuntimeError), instruments.receiving_upload():
        assert sample("dtr_blob_uploads_in_progress") == before + 1
        raise RuntimeError("the client went away")
    assert sample("dtr_blob_uploads_in_progress") == before


@pytest.mark.parametrize(
    ("identity", "allowed"),
    [
        (Identity("root", "admin", 1), True),  # password or session
        (Identity("root", "admin", 1, kind=TOKEN, scopes=frozenset({METRICS})), True),
        (Identity("root", "admin", 1, kind=TOKEN, scopes=frozenset({"api:read"})), False),
        (Identity("root", "admin", 1, kind=TOKEN, scopes=frozenset()), False),
        (Identity("someone", "read-only", 2, kind=TOKEN, scopes=frozenset({METRICS})), False),
        (Identity("someone", "read-write", 2), False),
        (Identity("org+bot", "admin", kind=ROBOT), False),
        (ANONYMOUS, False),
    ],
)
def test_who_may_read_the_metrics(monkeypatch, identity, allowed):
    monkeypatch.setattr(access, "get_setting", lambda key: "managed")
    assert access.may_read_metrics(identity) is allowed
    monkeypatch.setattr(access, "get_setting", lambda key: "none")
    assert access.may_read_metrics(identity) is False
