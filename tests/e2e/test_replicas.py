"""Three DTR replicas on one PostgreSQL database and one S3 bucket (moto's server, set in
Settings > Storage through the balancer as an admin would), behind Debian's HAProxy
(tests/support/haproxy.py) deciding round-robin for every request: docker pushes and pulls
through it while the requests of one push, even of one upload, land on different replicas;
what one replica changes the others serve at once (a tag deleted, an access token revoked,
failed logins counted towards the throttle); a registry token or a portal session that one
replica issued is good on the others; pushes racing garbage collection started on every
replica lose nothing while the garbage goes; a scheduled collection runs once, whatever
number of scheduler threads tick; and when a replica dies (SIGKILL), the health check takes
it out of the rotation and pushes and pulls go on. (Replicas on a shared folder: the
multi-process tests of tests/integration.)

Which replica served what is read from each replica's own logs
(`<instance>/logs/<component>.log`, one line per request: dtr/logs.py `_log_request`)."""

import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import requests

from dtr.storage.layout import blob_path
from tests.integration.test_api import Api, ok
from tests.integration.test_gc import collect, finished_job, settings
from tests.integration.test_gc_stress import Pusher, verify_database, verify_last_pushed
from tests.support.client import RegistryClient
from tests.support.haproxy import CHECK_FALL, CHECK_INTERVAL_MS, HAProxy, haproxy_in_front
from tests.support.images import DOCKER_MANIFEST, Image, sha256
from tests.support.postgres import Postgres
from tests.support.server import USERS, DTRProcess
from tests.support.storage_backends import (
    new_storage,
    open_driver,
    set_storage,
    stored_blob_digests,
)

from .conftest import registry_client
from .test_docker import pushed_digest

pytestmark = pytest.mark.e2e

REPLICAS = 3
ADMIN = ("admin", USERS["admin"][0])
MORE_USERS = {  # each the subject of one test, so that its failed logins lock nobody else
    "guessed": ("guessed-password-1", "read-only"),  # the throttle's
    "ci": ("ci-password-1", "read-write"),  # the revoked access token's owner
}
NAME_FREE_FAILURES = 5  # the default: the sixth login of a name waits (login_throttle.py)
TICK_SECONDS = 1  # the scheduler's: a scheduled collection starts within a second
# long enough for every replica's scheduler to read a new schedule before it is due (settings
# are cached for up to 5 s, services/settings.py): one that read it later would not compete
SCHEDULE_LEAD = timedelta(seconds=8)
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
# `<time> INFO registry: PATCH /v2/admin/x/blobs/uploads/<id>?digest 201 0B 3.2ms user=...`
REQUEST_LINE = re.compile(
    r" (?:registry|api|auth|web): (?P<method>[A-Z]+) (?P<path>/\S*) (?P<status>\d{3}) "
)
# HAProxy's httplog: `<client> [<date>] dtr replicas/r1 0/0/0/2/2 200 151 - - ---- ... "GET ..."`
PROXY_LINE = re.compile(
    r'^\S+ \[[^]]+\] \S+ (?P<server>\S+) \S+ (?P<status>\d{3}) .* "(?P<request>.*)"$'
)
UPLOAD_PATH = re.compile(r"/blobs/uploads/(?P<id>[0-9a-f-]{36})(?:\?|$)")
GC_JOB = {"job": "registryGC"}
GC_SCHEDULE = "/admin/settings/registry/garbageCollection/schedule"


@dataclass
class Cluster:
    replicas: list
    proxy: HAProxy
    storage: dict  # the S3 configuration of Settings > Storage


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory):
    """REPLICAS DTR processes on one PostgreSQL database, started at the same time (as a
    deployment would), with the USERS and MORE_USERS (created once, through the first), and
    HAProxy in front of them; their storage a new bucket on moto's S3 server, set through
    HAProxy. Each replica's own default storage is its instance folder: one that missed the
    setting would not find what the others stored."""
    folder = tmp_path_factory.mktemp("replicas")
    postgres = Postgres().start()
    replicas = []
    try:
        database = postgres.new_database()
        # not DTR_TRUSTED_PROXIES: DTR then takes the proxy for an HTTPS one (Secure cookies),
        # and this HAProxy speaks plain HTTP on loopback
        env = {
            "DTR_LOGIN_NAME_FREE_FAILURES": str(NAME_FREE_FAILURES),
            "DTR_SCHEDULER_TICK_SECONDS": str(TICK_SECONDS),
        }
        for index in range(REPLICAS):
            (folder / f"replica{index}").mkdir()
            instance = folder / f"replica{index}" / "instance"
            replicas.append(DTRProcess(instance, database_url=database, env=env))
        replicas[0].create_users({**USERS, **MORE_USERS})
        with ThreadPoolExecutor(REPLICAS) as pool:
            list(pool.map(DTRProcess.start, replicas))
        with haproxy_in_front(replicas, folder / "haproxy") as proxy:
            storage = new_storage(request, "s3", folder)
            set_storage(proxy, storage)
            yield Cluster(replicas, proxy, storage)
    finally:
        for replica in replicas:
            replica.stop()
        postgres.stop()


def new_repository(cluster, name):
    """A new private repository, created by the command line (a process of its own)."""
    result = cluster.replicas[0].cli("create-repo", name)
    assert result.returncode == 0, result.stderr
    return name


def log_lines(replica, component):
    """The lines of `replica`'s log of `component` (registry, api, auth, gc, scheduler...)."""
    path = replica.instance / "logs" / f"{component}.log"
    return path.read_text().splitlines() if path.exists() else []


def all_requests_served(replica, component="registry"):
    """[(method, path, status)] of the requests `replica` logged in its `component` log."""
    found = (REQUEST_LINE.search(line) for line in log_lines(replica, component))
    return [(f["method"], f["path"], int(f["status"])) for f in found if f]


def proxy_answers(proxy):
    """[(replica, status, request line)] of what HAProxy answered, from its log."""
    found = (PROXY_LINE.search(line) for line in proxy.log_text().splitlines())
    return [(f["server"], int(f["status"]), f["request"]) for f in found if f]


def requests_served(replica, repository):
    """[(method, path, status)] of the registry requests about `repository` that `replica`
    served, from its request log."""
    return [
        (method, path, status)
        for method, path, status in all_requests_served(replica)
        if path.startswith(f"/v2/{repository}/")
    ]


def upload_requests(cluster, repository):
    """{upload id: [(method, replica index, status)]} of the uploads of `repository`, in the
    order each replica logged them."""
    uploads = {}
    for index, replica in enumerate(cluster.replicas):
        for method, path, status in requests_served(replica, repository):
            if found := UPLOAD_PATH.search(path):
                uploads.setdefault(found["id"], []).append((method, index, status))
    return uploads


def tag_status(replica, repository, tag):
    return registry_client(replica).get_manifest(repository, tag).status_code


def layered_image(marker, layers=4):
    """A docker image of `layers` random layers (64 KiB each: nothing compresses them)."""
    files = [{f"{marker}/{i}.bin": os.urandom(64 << 10)} for i in range(layers)]
    return Image(files, docker=True)


def test_a_docker_push_and_pull_are_spread_over_the_replicas(cluster, docker, tmp_path):
    proxy = cluster.proxy
    repository = new_repository(cluster, "admin/spread")
    image = layered_image("spread")
    reference = f"{proxy.host}/{repository}:v1"
    docker.load(image, reference, tmp_path)
    assert "Login Succeeded" in docker.login(proxy, "writer").stdout
    digest = pushed_digest(docker("push", reference).stdout, "v1")
    docker("rmi", reference)
    assert f"Digest: {digest}" in docker("pull", reference).stdout
    assert docker.image_id(reference) == sha256(image.config)

    served = [requests_served(replica, repository) for replica in cluster.replicas]
    assert all(served), f"a replica served none of the push and pull: {served}"
    for requests_of_one in served:
        assert all(status < 500 for _, _, status in requests_of_one), requests_of_one
    pushes_on = {i for i, s in enumerate(served) for method, *_ in s if method in ("PATCH", "PUT")}
    assert len(pushes_on) >= 2, f"the uploads went to one replica only: {served}"
    uploads = upload_requests(cluster, repository)
    finished = {
        upload: steps
        for upload, steps in uploads.items()
        if any(method == "PUT" and status == 201 for method, _, status in steps)
    }
    assert len(finished) == len(image.blobs), uploads  # every layer and the config
    crossed = [
        upload
        for upload, steps in finished.items()
        if {i for m, i, _ in steps if m == "PATCH"} - {i for m, i, _ in steps if m == "PUT"}
    ]
    assert crossed, f"no upload had its PATCH and its PUT on different replicas: {uploads}"
    pulled_from = {i for i, s in enumerate(served) for m, p, _ in s if "/blobs/sha256:" in p}
    assert len(pulled_from) >= 2, served
    for replica in cluster.replicas:  # each one serves it, straight from its own port
        stored = registry_client(replica).get_manifest(repository, "v1")
        assert stored.status_code == 200, (replica.host, stored.text)
        assert stored.headers["Docker-Content-Digest"] == digest
    manifest = stored.json()  # docker compressed the layers: their digests are the pushed ones
    pushed = {descriptor["digest"] for descriptor in [manifest["config"], *manifest["layers"]]}
    assert pushed <= stored_blob_digests(cluster.storage)
    for replica in cluster.replicas:  # on the bucket, and nothing in their own folders
        assert not (replica.instance / "storage" / "blobs").exists(), replica.host


def test_one_upload_is_received_by_three_replicas_in_turn(cluster):
    """POST, PATCH, PATCH, PUT of one blob on one keep-alive connection: HAProxy sends the
    last three to three different replicas, each going on from what the one before stored."""
    repository = new_repository(cluster, "admin/chunks")
    client = RegistryClient(cluster.proxy.url, *ADMIN)
    first, second = os.urandom(300_000), os.urandom(200_000)
    started = client.request("POST", f"/v2/{repository}/blobs/uploads/")  # fetches a token
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    for start, chunk in ((0, first), (len(first), second)):
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + len(chunk) - 1}",
        }
        patched = client.request("PATCH", location, data=chunk, headers=headers)
        assert patched.status_code == 202, patched.text
        assert patched.headers["Range"] == f"0-{start + len(chunk) - 1}"
        location = patched.headers["Location"]
    digest = sha256(first + second)
    separator = "&" if "?" in location else "?"
    finished = client.request("PUT", f"{location}{separator}digest={digest}")
    assert finished.status_code == 201, finished.text

    (steps,) = upload_requests(cluster, repository).values()
    receivers = [index for method, index, _ in steps if method in ("PATCH", "PUT")]
    assert len(receivers) == 3 and len(set(receivers)) == 3, steps
    for replica in cluster.replicas:
        blob = registry_client(replica).request("GET", f"/v2/{repository}/blobs/{digest}")
        assert blob.status_code == 200 and blob.content == first + second, replica.host


def test_a_tag_deleted_through_one_replica_is_gone_at_once_from_the_others(
    cluster, docker, tmp_path
):
    proxy = cluster.proxy
    one, *others = cluster.replicas
    repository = new_repository(cluster, "admin/deleted")
    reference = f"{proxy.host}/{repository}:gone"
    docker.load(layered_image("deleted", layers=2), reference, tmp_path)
    docker.login(proxy, "admin")
    digest = pushed_digest(docker("push", reference).stdout, "gone")
    for replica in cluster.replicas:  # each one has the tag in its lookup cache now
        assert tag_status(replica, repository, "gone") == 200
    deleted = requests.delete(
        f"{one.url}/api/v0/repositories/{repository}/tags/gone", auth=ADMIN, timeout=30
    )
    assert deleted.status_code == 204, deleted.text
    for replica in others:
        assert tag_status(replica, repository, "gone") == 404, replica.host
        tags = registry_client(replica).request("GET", f"/v2/{repository}/tags/list").json()
        assert "gone" not in (tags["tags"] or []), (replica.host, tags)
    # pushed again through HAProxy at once: its layers are still there, the tag comes back
    assert pushed_digest(docker("push", reference).stdout, "gone") == digest
    for replica in cluster.replicas:
        assert tag_status(replica, repository, "gone") == 200, replica.host


def test_a_token_issued_by_one_replica_is_accepted_by_the_others(cluster):
    one, *others = cluster.replicas
    repository = new_repository(cluster, "admin/tokens")
    registry_client(one).push_image(repository, "t", layered_image("tokens", layers=1))
    issued = requests.get(
        f"{one.url}/auth/token",
        params={"service": "dtr", "scope": f"repository:{repository}:pull"},
        auth=ADMIN,
        timeout=30,
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["token"]
    for replica in cluster.replicas:
        answer = requests.get(
            f"{replica.url}/v2/{repository}/manifests/t",
            headers={"Authorization": f"Bearer {token}", "Accept": DOCKER_MANIFEST},
            timeout=30,
        )
        assert answer.status_code == 200, (replica.host, answer.text)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for replica in others:  # a signature the shared keys did not make is still refused
        answer = requests.get(
            f"{replica.url}/v2/{repository}/manifests/t",
            headers={"Authorization": f"Bearer {forged}"},
            timeout=30,
        )
        assert answer.status_code == 401, (replica.host, answer.status_code)


def test_a_portal_session_from_one_replica_works_on_the_others(cluster):
    """The login form of one replica, posted to a second, the session used on the third;
    then a logout on the first ends the session on all three at once."""
    first, second, third = cluster.replicas
    browser = requests.Session()  # one browser: cookies of 127.0.0.1 go to every port
    login = browser.get(f"{first.url}/login", timeout=30)
    form = {"username": "admin", "password": ADMIN[1], "csrf_token": csrf_token(login)}
    logged_in = browser.post(f"{second.url}/login", data=form, timeout=30, allow_redirects=False)
    assert logged_in.status_code == 303, logged_in.text  # the CSRF token of `first` held
    assert logged_in.headers["Location"].endswith("/repositories")
    page = browser.get(f"{third.url}/settings/general", timeout=30, allow_redirects=False)
    assert page.status_code == 200, (page.status_code, page.headers)
    copied = {"dtr_session": browser.cookies["dtr_session"]}  # as a thief would copy it
    for replica in cluster.replicas:
        assert settings_page(replica, copied) == 200, replica.host
    assert settings_page(third, {}) != 200  # anonymous: sent to the login page
    logout = browser.post(
        f"{first.url}/logout",
        data={"csrf_token": csrf_token(page)},  # the form token that `third` gave
        timeout=30,
        allow_redirects=False,
    )
    assert logout.status_code in (302, 303), logout.status_code
    for replica in cluster.replicas:  # the copied cookie is worthless everywhere at once
        assert settings_page(replica, copied) != 200, replica.host


def csrf_token(page):
    found = TOKEN_FIELD.search(page.text)
    assert found, page.text
    return found[1]


def settings_page(replica, cookies):
    """The status of an admin's page of the portal, with these cookies."""
    url = f"{replica.url}/settings/general"
    return requests.get(url, cookies=cookies, timeout=30, allow_redirects=False).status_code


# --- garbage collection racing pushes through the balancer ----------------------------------

STRESS_PUSHERS = 3
STRESS_IMAGES = 12  # per pusher: every sixth an index of two images


@pytest.fixture
def everything_collectable(cluster):
    """Garbage collection with a grace window of 0 and untagged manifests collected, for one
    test (the admin's Api through HAProxy); the settings as they were after it."""
    admin = Api(cluster.proxy.url, *ADMIN)
    before = ok(admin.get("/admin/settings/registry/garbageCollection"))
    settings(admin, graceWindowMinutes=0, deleteUntaggedManifests=True)
    yield admin
    settings(admin, **before)


def push_garbage(cluster, repository):
    """An image whose tag is then deleted (its manifest untagged, its blobs its own) and a
    blob that no manifest names, pushed through HAProxy: (manifest digest, blob digests)."""
    client = RegistryClient(cluster.proxy.url, *ADMIN)
    image = layered_image("garbage", layers=2)
    digest = client.push_image(repository, "doomed", image)
    deleted = requests.delete(
        f"{cluster.proxy.url}/api/v0/repositories/{repository}/tags/doomed", auth=ADMIN, timeout=30
    )
    assert deleted.status_code == 204, deleted.text
    lone = client.push_blob(repository, os.urandom(50_000))
    return digest, {sha256(blob) for blob in image.blobs} | {lone}


def collections_run_by(replica):
    """Ids of the garbage collections `replica` ran, from its gc log."""
    finished = re.compile(r" gc: garbage collection (\d+) (?:done|failed):")
    return {int(found[1]) for line in log_lines(replica, "gc") if (found := finished.search(line))}


def collect_on_one_while_another_refuses(here, there):
    """A collection started on the replica of `here` (an Api), and meanwhile one asked of the
    replica of `there`: refused while the first runs (one lease across the replicas), or run
    after it if it ended first. The finished jobs."""
    started = ok(here.post("/admin/jobs", json=GC_JOB), 202)
    beside = there.post("/admin/jobs", json=GC_JOB)
    jobs = [finished_job(here, started["id"])]
    if beside.status_code == 202:
        jobs.append(finished_job(there, beside.json()["id"]))
    else:
        assert beside.status_code == 409, beside.text
        assert beside.json()["errors"][0]["code"] == "JOB_RUNNING", beside.text
    return jobs


def test_pushes_through_the_balancer_racing_collections_on_every_replica_lose_nothing(
    cluster, everything_collectable
):
    """The stress test of tests/integration/test_gc_stress.py through HAProxy: pushers (the
    Python client, which pushes again after a clean MANIFEST_BLOB_UNKNOWN or BLOB_UNKNOWN as
    a CI job would push again) while collections with a grace window of 0 are started on
    each replica in turn, one from the command line now and then. Then every tag pulls back
    whole from every replica, the garbage pushed before is gone from the database and the
    bucket, nothing but what the database knows is left on the bucket, no request failed
    with a 5xx, and no two collections ever ran at once."""
    admin = everything_collectable
    apis = [Api(replica.url, *ADMIN) for replica in cluster.replicas]
    repos = [new_repository(cluster, f"admin/stress-{name}") for name in ("a", "b")]
    garbage_manifest, garbage_blobs = push_garbage(cluster, repos[0])
    assert garbage_blobs <= stored_blob_digests(cluster.storage)

    pushers = [
        Pusher(cluster.proxy, number, repos, images=STRESS_IMAGES)
        for number in range(STRESS_PUSHERS)
    ]
    threads = [threading.Thread(target=p.run, name=f"pusher-{p.number}") for p in pushers]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    jobs, cli_runs, turn = [], 0, 0
    while any(thread.is_alive() for thread in threads) or turn < 8:  # each way at least once
        assert time.monotonic() - started < 240, "pushes took too long"
        if turn % 8 == 7:  # a process of its own: the command line, beside the replicas
            result = cluster.replicas[turn % REPLICAS].cli("gc")
            assert result.returncode == 0, result.stderr
            cli_runs += 1
        else:
            here, there = apis[turn % REPLICAS], apis[(turn + 1) % REPLICAS]
            jobs += collect_on_one_while_another_refuses(here, there)
        turn += 1
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    final = collect(admin)

    assert [failure for p in pushers for failure in p.hard_failures] == []
    clean = sum(len(p.clean_failures) for p in pushers)
    deleted = {kind: sum(job[f"{kind}Deleted"] for job in jobs) for kind in ("manifests", "blobs")}
    print(
        f"\n{STRESS_PUSHERS * STRESS_IMAGES} pushes through HAProxy in {elapsed:.1f} s beside "
        f"{len(jobs)} collections on the replicas and {cli_runs} from the command line, which "
        f"deleted {deleted['manifests']} manifests and {deleted['blobs']} blobs; {clean} "
        f"pushes failed cleanly and were pushed again; final run: {final['blobsDeleted']} blobs"
    )
    assert deleted["blobs"] > 0 and deleted["manifests"] > 0
    ran_on = [collections_run_by(replica) for replica in cluster.replicas]
    assert all(ran_on), f"a replica ran no collection: {ran_on}"
    assert {job["id"] for job in jobs} <= set().union(*ran_on)
    runs = cluster.replicas[0].sql(
        "SELECT id, state, started_at, finished_at FROM gc_runs ORDER BY started_at"
    )
    assert all(state == "done" for _, state, _, _ in runs), runs
    for (one, _, _, ended), (then, _, begun, _) in pairwise(runs):
        assert ended <= begun, f"collections {one} and {then} ran at the same time"

    # through HAProxy, so the manifests and blobs come from every replica in turn
    expected = verify_last_pushed(RegistryClient(cluster.proxy.url, *ADMIN), pushers, repos)
    for (repo, tag), digest in expected.items():
        for replica in cluster.replicas:
            answer = registry_client(replica).get_manifest(repo, tag)
            assert answer.headers.get("Docker-Content-Digest") == digest, replica.host

    with open_driver(cluster.storage) as driver:
        verify_database(cluster.replicas[0], lambda digest: driver.stat(blob_path(digest)))
    on_bucket = stored_blob_digests(cluster.storage)
    known = {digest for (digest,) in cluster.replicas[0].sql("SELECT digest FROM blobs")}
    assert on_bucket == known, (on_bucket - known, known - on_bucket)
    assert not garbage_blobs & on_bucket
    for replica in cluster.replicas:
        client = registry_client(replica)
        assert client.get_manifest(repos[0], garbage_manifest).status_code == 404
        for digest in garbage_blobs:
            blob = client.request("GET", f"/v2/{repos[0]}/blobs/{digest}")
            assert blob.status_code == 404, (replica.host, digest)
        for component in ("registry", "api", "auth"):
            failed = [r for r in all_requests_served(replica, component) if r[2] >= 500]
            assert failed == [], (replica.host, failed)
    assert [answer for answer in proxy_answers(cluster.proxy) if answer[1] >= 500] == []


# --- what one replica counts or revokes, every replica enforces -----------------------------


def token_status(server, name, secret):
    """The status of docker login's token request with `name`:`secret` to `server`."""
    params = {"service": "dtr", "scope": "registry:catalog:*"}
    url = f"{server.url}/auth/token"
    return requests.get(url, params=params, auth=(name, secret), timeout=30).status_code


def token_list_status(server, name, secret):
    """The status of `name`'s list of access tokens on the API, asked with `name`:`secret`."""
    url = f"{server.url}/api/v0/accounts/{name}/tokens"
    return requests.get(url, auth=(name, secret), timeout=30).status_code


def failed_logins(replica, name):
    return [line for line in log_lines(replica, "auth") if f"login failed for {name!r}" in line]


def test_failed_logins_spread_over_the_replicas_add_up_to_the_throttle(cluster):
    name, password = "guessed", MORE_USERS["guessed"][0]
    for replica in cluster.replicas:  # each one has checked the right password once
        assert token_status(replica, name, password) == 200, replica.host
    before = [len(failed_logins(replica, name)) for replica in cluster.replicas]
    for attempt in range(NAME_FREE_FAILURES):
        assert token_status(cluster.proxy, name, f"guess-{attempt}") == 401
    counted = [
        len(failed_logins(replica, name)) - seen
        for replica, seen in zip(cluster.replicas, before, strict=True)
    ]
    # round-robin: every replica refused some, none enough to lock the name by itself
    assert sum(counted) == NAME_FREE_FAILURES and all(counted), counted
    assert max(counted) < NAME_FREE_FAILURES, counted

    for server in [*cluster.replicas, cluster.proxy]:  # the right password waits, everywhere
        answer = requests.get(
            f"{server.url}/api/v0/accounts/{name}", auth=(name, password), timeout=30
        )
        assert answer.status_code == 429, (server.host, answer.status_code, answer.text)
        assert 0 < int(answer.headers["Retry-After"]) <= 30, answer.headers
        assert token_status(server, name, password) == 429, server.host


def test_an_access_token_revoked_through_one_replica_is_refused_by_every_replica(cluster):
    name, password = "ci", MORE_USERS["ci"][0]
    revoker, *others = cluster.replicas
    repository = new_repository(cluster, "admin/pipeline")
    RegistryClient(cluster.proxy.url, *ADMIN).push_image(
        repository, "t", layered_image("pipeline", layers=1)
    )
    tokens = f"{cluster.proxy.url}/api/v0/accounts/{name}/tokens"
    body = {"name": "pipeline", "scopes": ["registry:pull", "api:read"]}
    created = requests.post(tokens, json=body, auth=(name, password), timeout=30)
    assert created.status_code == 201, created.text
    secret, token_id = created.json()["token"], created.json()["id"]
    servers = [*cluster.replicas, cluster.proxy]
    pullers = {server.host: RegistryClient(server.url, name, secret) for server in servers}
    for server in servers:  # each one accepts it (and remembers the check)
        assert pullers[server.host].get_manifest(repository, "t").status_code == 200
        assert token_list_status(server, name, secret) == 200, server.host
        assert token_status(server, name, secret) == 200, server.host

    revoked = requests.delete(
        f"{revoker.url}/api/v0/accounts/{name}/tokens/{token_id}", auth=(name, password), timeout=30
    )
    assert revoked.status_code == 204, revoked.text
    for server in [*others, revoker, cluster.proxy, cluster.proxy, cluster.proxy]:
        assert token_status(server, name, secret) == 401, server.host
        assert token_list_status(server, name, secret) == 401, server.host
        # a registry token issued for it before is refused too: its credential is gone
        bearer = {"Authorization": f"Bearer {pullers[server.host].last_token}"}
        answer = requests.get(
            f"{server.url}/v2/{repository}/manifests/t", headers=bearer, timeout=30
        )
        assert answer.status_code == 401, (server.host, answer.status_code)


# --- the scheduler thread of every replica ---------------------------------------------------


def test_a_scheduled_collection_runs_once_across_the_replicas(cluster):
    """A schedule due in a few seconds (DTR's six-field form, seconds first, due once), with
    the three scheduler threads ticking every second: each competes for it once, one runs
    it, triggered by its due time and started within a tick or two, and no other does."""
    admin = Api(cluster.proxy.url, *ADMIN)
    due = datetime.now(UTC).replace(microsecond=0, tzinfo=None) + SCHEDULE_LEAD
    schedule = f"{due.second} {due.minute} {due.hour} {due.day} {due.month} *"
    due_text = due.isoformat() + "Z"
    try:
        answer = ok(admin.post(GC_SCHEDULE, json={"schedule": schedule}))
        assert answer["nextRuns"][0] == due_text, answer
        for replica in cluster.replicas:
            seen = ok(Api(replica.url, *ADMIN).get(GC_SCHEDULE))
            assert seen["schedule"] == schedule, replica.host
        # every scheduler thread reads it before it is due (each says so in its gc log)
        expected = f"garbage collection schedule {schedule}: next at {due_text}"
        while not all(
            waiting := [expected in "\n".join(log_lines(r, "gc")) for r in cluster.replicas]
        ):
            assert datetime.now(UTC).replace(tzinfo=None) < due, f"read by {waiting} only"
            time.sleep(0.1)
        # one ran it; the others found it running (the lease: they wait for it to end) or
        # run (its run row); each says so in its log, and then looks for it no more (its
        # next time is next year)
        deadline = time.monotonic() + SCHEDULE_LEAD.total_seconds() + 15
        while not all(
            settled(outcomes := [scheduled_outcomes(r, due_text) for r in cluster.replicas])
        ):
            assert time.monotonic() < deadline, f"not every replica competed: {outcomes}"
            time.sleep(0.2)
    finally:
        ok(admin.post(GC_SCHEDULE, json={"schedule": ""}))

    for lines in outcomes:  # one outcome each, after waiting for the winner's run or not
        assert sum(any(end in line for end in OUTCOMES) for line in lines) == 1, outcomes
        assert all(WAITED in line for line in lines[:-1]), outcomes
    (run,) = scheduled_runs(admin)
    assert run["triggeredBy"] == f"schedule:{due_text}", run
    assert run["state"] == "done" and run["errors"] == [], run
    started = datetime.fromisoformat(run["startedAt"].removesuffix("Z"))
    assert due <= started < due + timedelta(seconds=2 * TICK_SECONDS + 1), (due, run)
    done = f"scheduled garbage collection {run['id']}: done"
    (winner,) = [
        r for r, lines in zip(cluster.replicas, outcomes, strict=True) if done in "".join(lines)
    ]
    ran = [run["id"] in collections_run_by(replica) for replica in cluster.replicas]
    assert ran == [replica is winner for replica in cluster.replicas], ran


OUTCOMES = (": done", "another process ran it")  # the scheduler's last word on a due time
WAITED = "waits: one is running"


def settled(outcomes):
    return [any(end in line for end in OUTCOMES for line in lines) for lines in outcomes]


def scheduled_outcomes(replica, due_text):
    """What `replica`'s scheduler said of the scheduled collection due at `due_text`: that it
    ran one (the only scheduled one of this module) or why it did not."""
    ran = [line for line in log_lines(replica, "scheduler") if "garbage collection" in line]
    other = [line for line in log_lines(replica, "gc") if f"collection of {due_text}" in line]
    return ran + other


def scheduled_runs(admin):
    """The collections the schedule triggered, from the history (newest first)."""
    history = ok(admin.get("/admin/jobs", params={"limit": 1000}))
    assert history["total"] <= 1000
    return [job for job in history["jobs"] if job["triggeredBy"].startswith("schedule:")]


# --- a replica dies --------------------------------------------------------------------------


def kill(replica):
    """SIGKILL to the gunicorn master and its worker: a replica whose machine died."""
    pid = replica.process.pid
    children = (
        open(f"/proc/{pid}/task/{pid}/children").read().split()
        if os.path.exists(f"/proc/{pid}/task/{pid}/children")
        else []
    )
    for target in [pid, *map(int, children)]:
        os.kill(target, signal.SIGKILL)
    replica.process.wait(10)
    replica.log.close()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{child}") for child in children):
        assert time.monotonic() < deadline, f"the worker of {replica.host} outlived SIGKILL"
        time.sleep(0.05)


def test_pushes_and_pulls_go_on_when_a_replica_is_killed(cluster, docker, tmp_path):
    proxy = cluster.proxy
    victim = cluster.replicas[1]
    repository = new_repository(cluster, "admin/survivor")
    kill(victim)
    # until the health check notices, HAProxy retries a refused connection on another one
    for _ in range(2 * REPLICAS):
        assert requests.get(f"{proxy.url}/v2/", timeout=30).status_code == 401
    took = proxy.wait_for_state(victim.host, "DOWN")
    assert took < (CHECK_FALL + 2) * CHECK_INTERVAL_MS / 1000 + 1.0, took

    image = layered_image("survivor", layers=3)
    reference = f"{proxy.host}/{repository}:alive"
    docker.load(image, reference, tmp_path)
    docker.login(proxy, "writer")
    digest = pushed_digest(docker("push", reference).stdout, "alive")
    docker("rmi", reference)
    assert f"Digest: {digest}" in docker("pull", reference).stdout
    assert docker.image_id(reference) == sha256(image.config)
    assert not requests_served(victim, repository)
    survivors = [r for r in cluster.replicas if r is not victim]
    assert all(requests_served(replica, repository) for replica in survivors)

    # back again: HAProxy puts it in the rotation, and it serves what was pushed meanwhile
    victim.start()
    proxy.wait_for_state(victim.host, "UP")
    assert tag_status(victim, repository, "alive") == 200
    before = len(requests_served(victim, repository))
    client = registry_client(proxy)
    for _ in range(2 * REPLICAS):
        assert client.get_manifest(repository, "alive").status_code == 200
    assert len(requests_served(victim, repository)) > before
