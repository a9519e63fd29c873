"""/metrics against a real server (gunicorn, two worker processes, `--metrics-bind`), read
with prometheus_client's own parser: pushes and pulls move the request counters, bytes and
latency histogram by what was done; uploads in progress, garbage collection, job leases,
storage errors and the writer-wait histogram move; who may read it; the unauthenticated
listener; one scrape sums every worker."""

import base64
import glob
import os
import re
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_api import Api, ok
from tests.support.client import RegistryClient
from tests.support.images import sha256, simple_image
from tests.support.server import USERS, DTRProcess, free_port

ADMIN = ("admin", USERS["admin"][0])
READER = ("reader", USERS["reader"][0])
REPO = "admin/metrics"
MANIFESTS = "/v2/<path:name>/manifests/<reference>"
BLOBS = "/v2/<path:name>/blobs/<digest>"
UPLOAD = "/v2/<path:name>/blobs/uploads/<upload_id>"
WORKERS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    metrics_port = free_port()
    process = DTRProcess(
        tmp_path_factory.mktemp("metrics") / "instance",
        env={"DTR_WORKERS": str(WORKERS)},
        serve_args=["--metrics-bind", f"127.0.0.1:{metrics_port}"],
    )
    process.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    process.create_users()
    assert process.cli("create-repo", REPO).returncode == 0
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server):
    return RegistryClient(server.url, *ADMIN)


@pytest.fixture(scope="module")
def admin_api(server):
    return Api(server.url, *ADMIN)


def parse(text) -> list:
    """[(sample name, labels, value)] of a scrape."""
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def scrape(server, auth=ADMIN) -> list:
    response = requests.get(server.url + "/metrics", auth=auth, headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def value(samples, name, **labels) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(
        v
        for n, got, v in samples
        if n == name and all(got.get(key) == wanted for key, wanted in labels.items())
    )


def moved(before, after, name, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def eventually(check, seconds=15):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


# --- what moves the metrics --------------------------------------------------------------------


def test_pushes_and_pulls_move_requests_bytes_and_latency(server, client):
    count = 3
    images = [simple_image(f"metrics-{uuid.uuid4()}") for _ in range(count)]
    client.push_image(REPO, "warm-up", simple_image(f"warm-{uuid.uuid4()}"))  # token asked
    before = scrape(server)
    for number, image in enumerate(images):
        client.push_image(REPO, f"t{number}", image)
    for number, image in enumerate(images):
        pulled = client.get_manifest(REPO, f"t{number}")
        assert pulled.status_code == 200 and pulled.content == image.manifest
    after = scrape(server)

    put = {"method": "PUT", "route": MANIFESTS}
    get = {"method": "GET", "route": MANIFESTS}
    assert moved(before, after, "dtr_http_requests_total", status="201", **put) == count
    assert moved(before, after, "dtr_http_requests_total", status="200", **get) == count
    assert moved(before, after, "dtr_http_request_duration_seconds_count", **put) == count
    assert moved(before, after, "dtr_http_request_duration_seconds_count", **get) == count
    assert moved(before, after, "dtr_http_request_duration_seconds_bucket", le="+Inf", **put) == (
        count
    )
    assert moved(before, after, "dtr_http_request_duration_seconds_sum", **put) > 0
    pushed = sum(len(blob) for image in images for blob in image.blobs)
    pushed += sum(len(image.manifest) for image in images)
    assert moved(before, after, "dtr_http_request_body_bytes_total") >= pushed
    assert moved(before, after, "dtr_http_request_body_bytes_total", route=MANIFESTS) == sum(
        len(image.manifest) for image in images
    )
    assert moved(before, after, "dtr_http_response_body_bytes_total", route=MANIFESTS) == sum(
        len(image.manifest) for image in images
    )
    # the labels are route templates, never paths
    assert not [labels for _, labels, _ in after if REPO in labels.get("route", "")]


def test_blob_downloads_count_the_bytes_sent(server, client):
    blob = os.urandom(2 * 1024 * 1024 + 7)
    digest = client.push_blob(REPO, blob)
    before = scrape(server)
    whole = client.request("GET", f"/v2/{REPO}/blobs/{digest}")  # sendfile
    part = client.request("GET", f"/v2/{REPO}/blobs/{digest}", headers={"Range": "bytes=0-999"})
    assert whole.content == blob and part.content == blob[:1000]
    after = scrape(server)
    assert moved(before, after, "dtr_http_response_body_bytes_total", route=BLOBS) == len(blob) + (
        1000
    )
    assert moved(before, after, "dtr_http_requests_total", route=BLOBS, method="GET") == 2


def test_unmatched_paths_are_one_label_value(server):
    before = scrape(server)
    for number in range(5):
        requests.get(f"{server.url}/no/such/page/{uuid.uuid4()}/{number}")
    after = scrape(server)
    assert moved(before, after, "dtr_http_requests_total", route="unmatched", status="404") == 5
    routes = {labels["route"] for name, labels, _ in after if name == "dtr_http_requests_total"}
    assert not [route for route in routes if "no/such" in route]


def test_an_upload_receiving_its_body_is_in_progress(server, client):
    started = client.request("POST", f"/v2/{REPO}/blobs/uploads/")
    assert started.status_code == 202, started.text
    release = threading.Event()
    first, second = os.urandom(1000), os.urandom(1000)

    def body():
        yield first
        release.wait(30)
        yield second

    answers = []
    sender = threading.Thread(
        target=lambda: answers.append(
            client.request("PATCH", started.headers["Location"], data=body())
        )
    )
    sender.start()
    try:
        in_progress = eventually(lambda: value(scrape(server), "dtr_blob_uploads_in_progress") == 1)
    finally:
        release.set()
        sender.join(30)
    assert in_progress
    assert answers and answers[0].status_code == 202, answers
    assert value(scrape(server), "dtr_blob_uploads_in_progress") == 0
    done = client.request(
        "PUT", started.headers["Location"], params={"digest": sha256(first + second)}
    )
    assert done.status_code == 201, done.text


def test_garbage_collection_moves_runs_duration_bytes_and_the_lease(server, client, admin_api):
    ok(
        admin_api.put(
            "/admin/settings/registry/garbageCollection",
            json={"graceWindowMinutes": 0, "deleteUntaggedManifests": True},
        )
    )
    image = simple_image(f"metrics-gc-{uuid.uuid4()}")
    client.push_image(REPO, "doomed", image)
    assert client.request("DELETE", f"/v2/{REPO}/manifests/doomed").status_code == 202
    before = scrape(server)
    job = ok(admin_api.post("/admin/jobs", json={"job": "registryGC", "dryRun": False}), 202)

    def finished():
        run = ok(admin_api.get(f"/admin/jobs/{job['id']}"))
        return run if run["state"] != "running" else None

    run = eventually(finished, 60)
    assert run and run["state"] == "done", run
    gc_done = {"outcome": "done", "dry_run": "false"}
    after = eventually(  # the run is recorded just after its row says done
        lambda: (s := scrape(server)) and moved(before, s, "dtr_gc_runs_total", **gc_done) and s
    )
    assert moved(before, after, "dtr_gc_runs_total", **gc_done) == 1
    assert moved(before, after, "dtr_gc_duration_seconds_count", outcome="done") == 1
    reclaimed = moved(before, after, "dtr_gc_reclaimed_bytes_total")
    assert reclaimed == run["bytesReclaimed"] >= sum(len(blob) for blob in image.blobs)
    lease = {"lease": "registry-gc"}
    assert moved(before, after, "dtr_job_lease_acquired_total", **lease) == 1
    assert value(after, "dtr_job_lease_held_until_seconds", **lease) == 0  # released


def test_writes_waited_for_the_writer_lock(server, client):
    client.push_image(REPO, "written", simple_image(f"metrics-write-{uuid.uuid4()}"))
    samples = scrape(server)
    assert value(samples, "dtr_database_writer_wait_seconds_count") > 0
    assert value(samples, "dtr_database_writer_wait_seconds_bucket", le="+Inf") == value(
        samples, "dtr_database_writer_wait_seconds_count"
    )


def test_a_failing_storage_counts_an_error_of_its_backend(server, client):
    """The uploads folder of the filesystem storage replaced by a file: starting an upload
    cannot create its session file there."""
    uploads = server.instance / "storage" / "uploads"
    aside = uploads.with_name("uploads.aside")
    existed = uploads.exists()
    if existed:
        uploads.rename(aside)
    uploads.write_bytes(b"not a folder")
    try:
        before = scrape(server)
        refused = client.request("POST", f"/v2/{REPO}/blobs/uploads/")
        after = scrape(server)
    finally:
        uploads.unlink()
        if existed:
            aside.rename(uploads)
    assert refused.status_code == 503, refused.text
    assert moved(before, after, "dtr_storage_errors_total", backend="filesystem") >= 1


# --- who may read it ---------------------------------------------------------------------------


def metrics_status(server, **kwargs):
    return requests.get(server.url + "/metrics", **kwargs).status_code


def new_token(server, user, scopes):
    api = Api(server.url, user[0], user[1])
    name = f"t{uuid.uuid4().hex[:8]}"
    response = api.post(f"/accounts/{user[0]}/tokens", json={"name": name, "scopes": scopes})
    return response


def test_anonymous_callers_are_challenged(server):
    response = requests.get(server.url + "/metrics")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert "dtr_http" not in response.text


@pytest.mark.parametrize("user", ["reader", "writer", "nobody"])
def test_people_who_are_not_admins_are_refused(server, user):
    assert metrics_status(server, auth=(user, USERS[user][0])) == 403


def test_admins_read_it_with_their_password(server):
    assert metrics_status(server, auth=ADMIN) == 200


def test_access_tokens_need_the_metrics_scope(server):
    without = ok(new_token(server, ADMIN, ["api:read", "registry:pull"]), 201)
    with_scope = ok(new_token(server, ADMIN, ["metrics"]), 201)
    assert metrics_status(server, auth=("admin", without["token"])) == 403
    assert metrics_status(server, auth=("admin", with_scope["token"])) == 200
    # the metrics scope opens nothing else
    api = Api(server.url, "admin", with_scope["token"])
    assert api.get("/accounts/admin").status_code == 403
    pull = requests.get(f"{server.url}/v2/{REPO}/tags/list", auth=("admin", with_scope["token"]))
    assert pull.status_code == 401


def test_only_admins_may_make_a_metrics_token(server):
    refused = new_token(server, READER, ["metrics"])
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["message"].startswith("scopes: metrics is for admin")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


HOSTILE = [
    "Basic " + "A" * 7000,
    "Basic !!!!",
    "Basic " + b64(b"admin"),
    "Basic " + b64(b"\x00:\x00"),
    "Basic " + b64(b"admin:" + b"p" * 5000),
    "Basic " + b64("ädmin:pässword".encode()),
    "Basic " + b64(b"\xff\xfe:\xff"),
    "Basic " + b64(b"admin:dtr_pat_" + b"x" * 200),
    "Bearer " + "x" * 6000,
    "Bearer",
    "Digest username=admin, realm=x",
    "Negotiate " + "Y" * 100,
    "basic " + b64(b":"),
    "Basic",
    "x",
]


@pytest.mark.parametrize("header", HOSTILE, ids=range(len(HOSTILE)))
def test_odd_credentials_are_refused_never_a_server_error(server, header):
    status = metrics_status(server, headers={"Authorization": header})
    assert status in (400, 401, 403, 429, 431), status


def test_latin1_bytes_in_the_header_are_refused(server):
    status = metrics_status(server, headers={"Authorization": b"Basic \xe9\xff\x00x"})
    assert status in (400, 401), status


def test_the_metrics_bind_address_needs_no_credentials(server):
    response = eventually(lambda: _get_or_none(server.metrics_url))
    assert response is not None and response.status_code == 200
    samples = parse(response.text)
    assert value(samples, "dtr_http_requests_total") > 0
    assert value(samples, "dtr_http_requests_total", route="/health") > 0


def _get_or_none(url):
    try:
        return requests.get(url, timeout=5)
    except requests.RequestException:
        return None


# --- several workers -----------------------------------------------------------------------------


def worker_pids(server) -> set:
    return set(re.findall(r"Booting worker with pid: (\d+)", server.log_text()))


def test_one_scrape_sums_every_worker(server):
    total = 60
    health = {"route": "/health", "status": "200", "method": "GET"}
    before = scrape(server)

    def get_health(_):
        response = requests.get(server.url + "/health", headers={"Connection": "close"})
        assert response.status_code == 200

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(get_health, range(total)))
    scraped = [moved(before, scrape(server), "dtr_http_requests_total", **health) for _ in range(8)]
    assert scraped == [total] * 8
    unauthenticated = parse(requests.get(server.metrics_url).text)
    assert moved(before, unauthenticated, "dtr_http_requests_total", **health) == total
    # both workers answered requests: each has its own file of counters
    pids = worker_pids(server)
    assert len(pids) == WORKERS, server.log_text()[-2000:]
    folders = glob.glob(os.path.join(tempfile.gettempdir(), "dtr-metrics-*"))
    files = {Path(path).name for folder in folders for path in glob.glob(f"{folder}/counter_*")}
    assert {f"counter_{pid}.db" for pid in pids} <= files, (pids, files)
