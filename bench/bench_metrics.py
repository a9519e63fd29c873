"""The in-process cost of the request metrics (dtr/metrics/http.py): GETs of one manifest
through the Flask test client, with the metrics middleware and without it (unwrapped), in
alternating rounds; prints the time per request of each and the difference.

    .venv/bin/python bench/bench_metrics.py [--requests 2000] [--rounds 5]
"""

import argparse
import hashlib
import io
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask_migrate import upgrade  # noqa: E402

import dtr  # noqa: E402
from dtr.metrics.http import ROUTE_KEY, RequestMetrics, _note_route  # noqa: E402

REPO = "admin/bench"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def built_app(folder):
    app = dtr.create_app(str(Path(folder) / "instance"))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        from dtr.services.accounts import create_user
        from dtr.services.repositories import create_repository

        create_user("admin", "admin-password-1", "admin")
        create_repository(None, REPO, public=True)
    return app


def push_image(client):
    auth = {"Authorization": "Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtMQ=="}  # admin:admin-password-1
    config = b"{}"
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    pushed = client.post(f"/v2/{REPO}/blobs/uploads/?digest={digest}", data=config, headers=auth)
    assert pushed.status_code == 201, pushed.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    headers = {**auth, "Content-Type": MANIFEST_TYPE}
    put = client.put(f"/v2/{REPO}/manifests/latest", data=manifest, headers=headers)
    assert put.status_code == 201, put.text


def pull_headers(client) -> dict:
    """An anonymous registry token for the public repository, as docker would get one."""
    challenge = client.get(f"/v2/{REPO}/manifests/latest").headers["WWW-Authenticate"]
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    token = client.get(
        "/auth/token", query_string={"service": params["service"], "scope": params["scope"]}
    ).json["token"]
    return {"Accept": MANIFEST_TYPE, "Authorization": f"Bearer {token}"}


def timed_gets(client, count, headers) -> float:
    """Seconds per GET of the manifest."""
    started = time.perf_counter()
    for _ in range(count):
        response = client.get(f"/v2/{REPO}/manifests/latest", headers=headers)
        assert response.status_code == 200
        response.close()
    return (time.perf_counter() - started) / count


def middleware_cost(count) -> float:
    """Seconds the middleware adds to one request of a WSGI application that does nothing
    (called directly, body iterated and closed as a server does)."""

    def tiny(environ, start_response):
        environ[ROUTE_KEY] = "/v2/<path:name>/manifests/<reference>"
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    def start_response(status, headers, exc_info=None):
        return None

    def run(app):
        started = time.perf_counter()
        for _ in range(count):
            environ = {"REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(b"")}
            body = app(environ, start_response)
            for _chunk in body:
                pass
            getattr(body, "close", lambda: None)()
        return (time.perf_counter() - started) / count

    run(RequestMetrics(tiny))
    return statistics.median(run(RequestMetrics(tiny)) - run(tiny) for _ in range(5))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = built_app(folder)
        client = app.test_client()
        push_image(client)
        measured = app.wsgi_app
        assert isinstance(measured, RequestMetrics)
        hooks = app.before_request_funcs[None]
        headers = pull_headers(client)
        timed_gets(client, 200, headers)  # warm-up
        results = {"with": [], "without": []}
        for _ in range(args.rounds):
            app.wsgi_app = measured
            hooks.insert(0, _note_route)
            results["with"].append(timed_gets(client, args.requests, headers))
            app.wsgi_app = measured.wsgi_app
            hooks.remove(_note_route)
            results["without"].append(timed_gets(client, args.requests, headers))
    with_metrics = statistics.median(results["with"]) * 1e6
    without = statistics.median(results["without"]) * 1e6
    print(f"{args.requests} GETs x {args.rounds} rounds (median of rounds), per request:")
    print(f"  with metrics    {with_metrics:8.1f} us")
    print(f"  without metrics {without:8.1f} us")
    print(
        f"  overhead        {with_metrics - without:8.1f} us "
        f"({(with_metrics - without) / without * 100:.1f} %)"
    )
    alone = middleware_cost(args.requests * 10) * 1e6
    print(f"the middleware alone, around an application that does nothing: {alone:.1f} us")


if __name__ == "__main__":
    main()
