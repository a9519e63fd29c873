"""The real docker CLI pulls through a proxy namespace, by its name and as docker's
`registry-mirrors`, from a real upstream (Debian's docker-registry); cached images still
pull when the upstream is stopped."""

import pytest

from tests.integration.test_api import Api
from tests.support.images import sha256
from tests.support.server import USERS, running_dtr
from tests.support.upstream_registry import ReferenceRegistry, UpstreamClient, layered_image

from .conftest import Docker, running_dockerd

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def upstream():
    with ReferenceRegistry() as registry:
        yield registry


@pytest.fixture(scope="module")
def mirror_dtr(tmp_path_factory, upstream):
    """A DTR with `hub` (private) and `mirror` (public, docker's registry mirror), both
    proxies of the upstream."""
    with running_dtr(tmp_path_factory.mktemp("mirror-dtr") / "instance") as server:
        admin = Api(server.url, "admin", USERS["admin"][0])
        for name, fields in (
            ("hub", {}),
            ("mirror", {"defaultMirror": True, "visibility": "public"}),
        ):
            body = {"name": name, "upstreamUrl": upstream.url, **fields}
            created = admin.post("/admin/proxies", json=body)
            assert created.status_code == 201, created.text
        yield server


def push_upstream(upstream, name, tag, marker):
    """An image on the upstream; its config digest (docker's image id)."""
    image = layered_image([marker.encode() * 1000])
    UpstreamClient(upstream.url).push_image(name, tag, image)
    return sha256(image.config)


def test_docker_pulls_through_a_proxy_namespace_and_from_the_cache_when_upstream_is_down(
    docker, mirror_dtr, upstream
):
    image_id = push_upstream(upstream, "team/app", "1", "proxied")
    reference = f"{mirror_dtr.host}/hub/team/app:1"
    docker.login(mirror_dtr, "reader")
    docker("pull", reference)
    assert docker.image_id(reference) == image_id

    docker("rmi", reference)
    upstream.stop()
    try:
        docker("pull", reference)  # from the cache only
        assert docker.image_id(reference) == image_id
        never = docker("pull", f"{mirror_dtr.host}/hub/team/other:1", ok=False)
        assert never.returncode != 0
        assert f"not cached, and upstream {upstream.url} could not be reached" in never.stderr
    finally:
        upstream.start()
    refused = docker("push", reference, ok=False)  # nobody pushes into a proxy namespace
    assert refused.returncode != 0
    assert "denied" in refused.stderr.lower()


def test_docker_registry_mirrors_pull_through_the_default_mirror(mirror_dtr, upstream, tmp_path):
    image_id = push_upstream(upstream, "library/tool", "1", "mirrored")
    config = {"registry-mirrors": [f"http://{mirror_dtr.host}"]}
    with running_dockerd(config) as daemon:
        folder = tmp_path / "config"
        folder.mkdir()
        docker = Docker(daemon, folder)
        # as if from Docker Hub: the daemon asks the mirror first (Docker Hub is unreachable)
        docker("pull", "tool:1")
        assert docker.image_id("tool:1") == image_id
    tags = Api(mirror_dtr.url, "admin", USERS["admin"][0]).get("/repositories/mirror")
    assert [r["name"] for r in tags.json()["repositories"]] == ["library/tool"]
