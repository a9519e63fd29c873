"""podman and buildah (private vfs storage, no systemd, no container runtime needed) against
DTR: login, push, pull, and a new image built FROM a pulled one and pushed by buildah."""

import gzip
import io
import json
import tarfile

import pytest

from tests.support.images import OCI_MANIFEST, sha256, simple_image
from tests.support.server import USERS

from .conftest import registry_client, stored_blobs_ok, tags_of

pytestmark = pytest.mark.e2e

INSECURE = "--tls-verify=false"


def login(containers, server, user, password=None, ok=True):
    password = USERS[user][0] if password is None else password
    return containers.podman(
        "login",
        INSECURE,
        "-u",
        user,
        "--password-stdin",
        server.host,
        input=password + "\n",
        ok=ok,
    )


def last_line(result):
    return result.stdout.strip().splitlines()[-1]


def test_podman_login_push_rmi_pull_logout(containers, dtr, make_repo, tmp_path):
    repo = make_repo()
    image = simple_image("podman-push")
    layout = image.write_oci_layout(tmp_path / "layout", "v1")
    reference = f"{dtr.host}/{repo}:v1"

    image_id = last_line(containers.podman("pull", f"oci:{layout}:v1"))
    assert f"sha256:{image_id}" == sha256(image.config)
    containers.podman("tag", image_id, reference)

    assert "Login Succeeded" in login(containers, dtr, "writer").stdout
    assert dtr.host in containers.auths()
    digest_file = tmp_path / "digest"
    containers.podman("push", INSECURE, "--digestfile", digest_file, reference)
    digest = digest_file.read_text().strip()

    admin = registry_client(dtr)
    response = admin.get_manifest(repo, "v1")
    assert response.status_code == 200, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    manifest = json.loads(response.content)
    assert manifest["config"]["digest"] == sha256(image.config)
    blobs = stored_blobs_ok(admin, repo, manifest)
    layers = [gzip.decompress(blobs[layer["digest"]]) for layer in manifest["layers"]]
    assert layers == image.uncompressed

    containers.podman("rmi", "--force", image_id)  # all its names: the image is gone
    containers.podman("image", "exists", image_id, ok=False)
    containers.podman("pull", INSECURE, reference)
    details = json.loads(containers.podman("image", "inspect", reference).stdout)[0]
    assert f"sha256:{details['Id']}" == sha256(image.config)
    assert details["Digest"] == digest
    assert f"{dtr.host}/{repo}@{digest}" in details["RepoDigests"]

    containers.podman("logout", dtr.host)
    assert dtr.host not in containers.auths()
    containers.podman("rmi", reference)
    failed = containers.podman("pull", INSECURE, reference, ok=False)
    message = failed.stderr.lower()
    assert "unauthorized" in message or "authentication required" in message, message


def test_podman_login_with_wrong_password_fails(containers, dtr):
    failed = login(containers, dtr, "writer", "wrong-password-1", ok=False)
    assert "invalid username/password" in failed.stderr, failed.stderr
    assert containers.auths() == {}


def test_buildah_builds_from_pulled_image_and_pushes(containers, dtr, make_repo, tmp_path):
    base_repo, target_repo = make_repo(), make_repo()
    base = simple_image("buildah-base")
    admin = registry_client(dtr)
    admin.push_image(base_repo, "base", base)
    base_ref = f"{dtr.host}/{base_repo}:base"
    target_ref = f"{dtr.host}/{target_repo}:built"

    login(containers, dtr, "writer")
    containers.podman("pull", INSECURE, base_ref)
    container = last_line(containers.buildah("from", "--pull=never", base_ref))
    content = b"built by buildah on top of buildah-base\n"
    (tmp_path / "hello.txt").write_bytes(content)
    containers.buildah("copy", container, tmp_path / "hello.txt", "/hello.txt")
    containers.buildah("config", "--label", "dtr.e2e=buildah", "--cmd", "/hello.txt", container)
    containers.buildah("commit", container, target_ref)
    digest_file = tmp_path / "digest"
    containers.buildah("push", INSECURE, "--digestfile", digest_file, target_ref)
    digest = digest_file.read_text().strip()

    response = admin.get_manifest(target_repo, "built")
    assert response.status_code == 200, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Content-Type"] == OCI_MANIFEST
    manifest = json.loads(response.content)
    assert manifest["mediaType"] == OCI_MANIFEST
    assert len(manifest["layers"]) == 3
    blobs = stored_blobs_ok(admin, target_repo, manifest)
    assert tags_of(admin, target_repo) == ["built"]

    config = json.loads(blobs[manifest["config"]["digest"]])
    base_diff_ids = [sha256(layer) for layer in base.uncompressed]
    assert config["rootfs"]["diff_ids"][:2] == base_diff_ids
    assert config["config"]["Labels"]["dtr.e2e"] == "buildah"
    assert config["config"]["Cmd"] == ["/hello.txt"]

    new_layer = gzip.decompress(blobs[manifest["layers"][2]["digest"]])
    assert sha256(new_layer) == config["rootfs"]["diff_ids"][2]
    with tarfile.open(fileobj=io.BytesIO(new_layer)) as tar:
        files = {m.name.lstrip("./"): m for m in tar.getmembers() if m.isfile()}
        assert tar.extractfile(files["hello.txt"]).read() == content
