"""Three DTR replicas on one PostgreSQL database and one storage folder, behind Debian's
HAProxy (tests/support/haproxy.py) deciding round-robin for every request: docker pushes and
pulls through it while the requests of one push, even of one upload, land on different
replicas; what one replica changes the others serve at once; a registry token or a portal
session that one replica issued is good on the others; and when a replica dies (SIGKILL),
the health check takes it out of the rotation and pushes and pulls go on.

Which replica served what is read from each replica's own request log
(`<instance>/logs/registry.log`, one line per request: dtr/logs.py `_log_request`)."""

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.haproxy import CHECK_FALL, CHECK_INTERVAL_MS, HAProxy, haproxy_in_front
from tests.support.images import DOCKER_MANIFEST, Image, sha256
from tests.support.postgres import Postgres
from tests.support.server import USERS, DTRProcess

from .conftest import registry_client
from .test_docker import pushed_digest

pytestmark = pytest.mark.e2e

REPLICAS = 3
ADMIN = ("admin", USERS["admin"][0])
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
# `<time> INFO registry: PATCH /v2/admin/x/blobs/uploads/<id>?digest 201 0B 3.2ms user=...`
REQUEST_LINE = re.compile(r" registry: (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) ")
UPLOAD_PATH = re.compile(r"/blobs/uploads/(?P<id>[0-9a-f-]{36})(?:\?|$)")


@dataclass
class Cluster:
    replicas: list
    proxy: HAProxy


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """REPLICAS DTR processes on one PostgreSQL database and one storage folder, started at
    the same time (as a deployment would), with the USERS (created once, through the first),
    and HAProxy in front of them."""
    folder = tmp_path_factory.mktemp("replicas")
    postgres = Postgres().start()
    replicas = []
    try:
        database = postgres.new_database()
        # not DTR_TRUSTED_PROXIES: DTR then takes the proxy for an HTTPS one (Secure cookies),
        # and this HAProxy speaks plain HTTP on loopback
        env = {"DTR_STORAGE_ROOT": str(folder / "storage")}
        for index in range(REPLICAS):
            (folder / f"replica{index}").mkdir()
            instance = folder / f"replica{index}" / "instance"
            replicas.append(DTRProcess(instance, database_url=database, env=env))
        replicas[0].create_users()
        with ThreadPoolExecutor(REPLICAS) as pool:
            list(pool.map(DTRProcess.start, replicas))
        with haproxy_in_front(replicas, folder / "haproxy") as proxy:
            yield Cluster(replicas, proxy)
    finally:
        for replica in replicas:
            replica.stop()
        postgres.stop()


def new_repository(cluster, name):
    """A new private repository, created by the command line (a process of its own)."""
    result = cluster.replicas[0].cli("create-repo", name)
    assert result.returncode == 0, result.stderr
    return name


def requests_served(replica, repository):
    """[(method, path, status)] of the registry requests about `repository` that `replica`
    served, from its request log."""
    path = replica.instance / "logs" / "registry.log"
    served = []
    for line in path.read_text().splitlines() if path.exists() else []:
        found = REQUEST_LINE.search(line)
        if found and found["path"].startswith(f"/v2/{repository}/"):
            served.append((found["method"], found["path"], int(found["status"])))
    return served


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
