"""Replication as the docker CLI sees it: an image a pull rule mirrors from a real registry
(Debian's docker-registry) pulls from DTR; a `docker push` to DTR reaches that registry
through a push rule, and pulls from there; nobody pushes into the mirror."""

import time

import pytest

from tests.integration.test_api import Api
from tests.support.images import sha256
from tests.support.server import USERS, running_dtr
from tests.support.upstream_registry import ReferenceRegistry, UpstreamClient, layered_image

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def registry():
    with ReferenceRegistry() as reference_registry:
        yield reference_registry


@pytest.fixture(scope="module")
def dtr(tmp_path_factory):
    instance = tmp_path_factory.mktemp("replication-docker") / "instance"
    env = {"DTR_REPLICATION_POLL_SECONDS": "1", "DTR_REPLICATION_RETRY_SECONDS": "0"}
    with running_dtr(instance, ["admin/app"], env=env) as server:
        yield server


def admin(dtr):
    return Api(dtr.url, "admin", USERS["admin"][0])


def last_run(dtr, rule, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = admin(dtr).get(f"/admin/replication/{rule}/runs").json()["runs"]
        if len(runs) >= count and runs[0]["state"] not in ("queued", "running"):
            return runs[0]
        time.sleep(0.3)
    raise AssertionError(f"no finished run {count} of {rule}")


def test_docker_pulls_a_mirror_and_its_push_reaches_the_other_registry(docker, dtr, registry):
    image = layered_image([b"replicated by a rule\n" * 500])
    UpstreamClient(registry.url).push_image("team/tool", "1", image)
    rules = admin(dtr)
    pull_rule = {
        "name": "tool",
        "direction": "pull",
        "url": registry.url,
        "remoteRepository": "team/tool",
        "localRepository": "admin/tool",
    }
    assert rules.post("/admin/replication", json=pull_rule).status_code == 201
    push_rule = {"name": "app", "url": registry.url, "repositories": ["admin/app"]}
    assert rules.post("/admin/replication", json=push_rule).status_code == 201
    assert rules.post("/admin/replication/tool/run").status_code == 202
    assert last_run(dtr, "tool", 1)["state"] == "succeeded"

    mirrored = f"{dtr.host}/admin/tool:1"
    docker.login(dtr, "admin")
    docker("pull", mirrored)
    assert docker.image_id(mirrored) == sha256(image.config)
    refused = docker("push", mirrored, ok=False)  # the mirror is read-only
    assert refused.returncode != 0 and "denied" in refused.stderr.lower()

    pushed = f"{dtr.host}/admin/app:2"
    docker("tag", mirrored, pushed)
    docker("push", pushed)
    run = last_run(dtr, "app", 1)
    assert run["state"] == "succeeded" and run["trigger"] == "push" and run["copied"] == 1

    elsewhere = f"{registry.host}/admin/app:2"
    docker("rmi", mirrored, pushed)
    docker("pull", elsewhere)
    assert docker.image_id(elsewhere) == sha256(image.config)
