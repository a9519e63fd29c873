"""docker (client 28 + a private dockerd) against DTR: login, push, pull, logout, refusals."""

import gzip
import json
import re

import pytest
import requests

from tests.support.images import DOCKER_LIST, Image, index_of, sha256, simple_image

from .conftest import registry_client, stored_blobs_ok, tags_of

pytestmark = pytest.mark.e2e

DENIED = ("denied", "unauthorized")


def pushed_digest(output, tag):
    match = re.search(
        rf"^{re.escape(tag)}: digest: (sha256:[0-9a-f]{{64}}) size: \d+$", output, re.M
    )
    assert match, output
    return match[1]


def check_stored(client, repo, tag, digest, image):
    """The manifest docker pushed is in DTR under `tag`, with `image`'s config and layers."""
    response = client.get_manifest(repo, tag)
    assert response.status_code == 200, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    assert sha256(response.content) == digest
    manifest = json.loads(response.content)
    assert manifest["config"]["digest"] == sha256(image.config)
    blobs = stored_blobs_ok(client, repo, manifest)
    assert blobs[sha256(image.config)] == image.config
    layers = [blobs[layer["digest"]] for layer in manifest["layers"]]
    # docker recompresses the layers; their content is the loaded tars, byte for byte
    assert [gzip.decompress(layer) for layer in layers] == image.uncompressed
    return manifest


def test_login_push_rmi_pull_logout(docker, dtr, make_repo, tmp_path):
    repo = make_repo()
    image = simple_image("docker-push", docker=True)
    reference = f"{dtr.host}/{repo}:v1"
    assert docker.load(image, reference, tmp_path) == sha256(image.config)

    login = docker.login(dtr, "writer")
    assert "Login Succeeded" in login.stdout
    assert dtr.host in docker.auths()

    digest = pushed_digest(docker("push", reference).stdout, "v1")
    admin = registry_client(dtr)
    check_stored(admin, repo, "v1", digest, image)
    assert tags_of(admin, repo) == ["v1"]

    docker("rmi", reference)
    docker("image", "inspect", reference, ok=False)
    pull = docker("pull", reference)
    assert f"Digest: {digest}" in pull.stdout
    assert docker.image_id(reference) == sha256(image.config)
    details = docker.inspect(reference)
    assert f"{dtr.host}/{repo}@{digest}" in details["RepoDigests"]
    assert details["RootFS"]["Layers"] == [sha256(t) for t in image.uncompressed]
    docker("pull", f"{dtr.host}/{repo}@{digest}")  # by digest too

    logout = docker("logout", dtr.host)
    assert "Removing login credentials" in logout.stdout
    assert dtr.host not in docker.auths()
    # logged out: the private repository is out of reach again
    docker("rmi", reference)
    failed = docker("pull", reference, ok=False)
    assert any(word in failed.stderr.lower() for word in DENIED), failed.stderr
    docker("image", "inspect", reference, ok=False)


def test_read_only_user_push_is_refused(docker, dtr, make_repo, tmp_path):
    repo = make_repo()
    image = simple_image("docker-reader", docker=True)
    reference = f"{dtr.host}/{repo}:nope"
    docker.load(image, reference, tmp_path)
    docker.login(dtr, "reader")
    failed = docker("push", reference, ok=False)
    assert any(word in failed.stderr.lower() for word in DENIED), failed.stderr
    admin = registry_client(dtr)
    assert tags_of(admin, repo) == []
    config = admin.request("HEAD", f"/v2/{repo}/blobs/{sha256(image.config)}")
    assert config.status_code == 404
    # docker gives up at once (a bare DENIED without detail made it retry 5 times, ~50 s)
    assert "Retrying in" not in failed.stdout, failed.stdout


def test_an_immutable_tag_refuses_another_image_and_says_which_rule(
    docker, dtr, make_repo, tmp_path
):
    repo = make_repo()
    admin = registry_client(dtr)
    rules = f"{dtr.url}/api/v0/repositories/{repo}/immutableTagRules"
    added = requests.post(rules, json={"pattern": "v*"}, auth=("admin", "admin-password-1"))
    assert added.status_code == 201, added.text
    first, second = (simple_image(f"docker-immutable-{n}", docker=True) for n in (1, 2))
    reference = f"{dtr.host}/{repo}:v1"
    docker.login(dtr, "admin")  # administrators too
    docker.load(first, reference, tmp_path)
    digest = pushed_digest(docker("push", reference).stdout, "v1")
    assert pushed_digest(docker("push", reference).stdout, "v1") == digest  # the same: fine
    docker.load(second, reference, tmp_path)
    failed = docker("push", reference, ok=False)
    assert "is immutable (rule 'v*' of the repository)" in failed.stderr, failed.stderr
    assert "Retrying in" not in failed.stdout, failed.stdout
    response = admin.get_manifest(repo, "v1")
    assert response.headers["Docker-Content-Digest"] == digest


def test_anonymous_pull_of_public_repository(docker, dtr, make_repo):
    repo = make_repo(public=True)
    image = simple_image("docker-public", docker=True)
    digest = registry_client(dtr).push_image(repo, "v1", image)
    docker("logout", dtr.host)
    assert docker.auths() == {}
    pull = docker("pull", f"{dtr.host}/{repo}:v1")
    assert f"Digest: {digest}" in pull.stdout
    assert docker.image_id(f"{dtr.host}/{repo}:v1") == sha256(image.config)


def test_anonymous_pull_of_private_repository_fails(docker, dtr, make_repo):
    repo = make_repo()
    registry_client(dtr).push_image(repo, "v1", simple_image("docker-private", docker=True))
    docker("logout", dtr.host)
    failed = docker("pull", f"{dtr.host}/{repo}:v1", ok=False)
    assert any(word in failed.stderr.lower() for word in DENIED), failed.stderr
    docker("image", "inspect", f"{dtr.host}/{repo}:v1", ok=False)


def test_push_to_missing_repository_names_it(docker, dtr, tmp_path):
    repo = "admin/never-created"
    reference = f"{dtr.host}/{repo}:v1"
    docker.load(simple_image("docker-missing", docker=True), reference, tmp_path)
    docker.login(dtr, "writer")
    failed = docker("push", reference, ok=False)
    assert f"repository {repo} does not exist" in failed.stderr, failed.stderr
    response = registry_client(dtr).request("GET", f"/v2/{repo}/tags/list")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NAME_UNKNOWN"


@pytest.mark.parametrize(
    "user,password", [("writer", "wrong-password-1"), ("ghost", "writer-password-1")]
)
def test_login_with_wrong_credentials_fails(docker, dtr, user, password):
    failed = docker.login(dtr, user, password, ok=False)
    message = failed.stderr.lower()
    assert "unauthorized" in message or "incorrect username or password" in message, message
    assert dtr.host not in docker.auths()


def test_second_push_mounts_existing_layers(docker, dtr, make_repo, tmp_path):
    first, second = make_repo(), make_repo()
    files = [{f"l{i}/data.bin": bytes([i]) * (5000 + i)} for i in range(4)]
    image = Image(files, docker=True)
    docker.load(image, f"{dtr.host}/{first}:v1", tmp_path)
    docker("tag", f"{dtr.host}/{first}:v1", f"{dtr.host}/{second}:v1")
    docker.login(dtr, "writer")

    push1 = docker("push", f"{dtr.host}/{first}:v1").stdout
    assert push1.count(": Pushed") == 4, push1
    push2 = docker("push", f"{dtr.host}/{second}:v1").stdout
    reused = re.findall(r"^[0-9a-f]{12}: (Mounted from \S+|Layer already exists)$", push2, re.M)
    assert len(reused) == 4, push2
    assert ": Pushed" not in push2, push2
    assert all(r in (f"Mounted from {first}", "Layer already exists") for r in reused), push2

    digest = pushed_digest(push1, "v1")
    assert pushed_digest(push2, "v1") == digest
    admin = registry_client(dtr)
    check_stored(admin, second, "v1", digest, image)


def test_pull_picks_platform_from_manifest_list(docker, dtr, make_repo):
    repo = make_repo(public=True)
    amd64 = simple_image("docker-list-amd64", docker=True, arch="amd64")
    arm64 = simple_image("docker-list-arm64", docker=True, arch="arm64")
    admin = registry_client(dtr)
    admin.push_image(repo, "amd64", amd64)
    admin.push_image(repo, "arm64", arm64)
    listing = index_of([(amd64, "amd64"), (arm64, "arm64")], docker=True)
    assert admin.push_manifest(repo, "multi", listing, DOCKER_LIST).status_code == 201

    reference = f"{dtr.host}/{repo}:multi"
    pull = docker("pull", reference)
    assert f"Digest: {sha256(listing)}" in pull.stdout
    assert docker.image_id(reference) == sha256(amd64.config)
    docker("rmi", reference)
    docker("pull", "--platform", "linux/arm64", reference)
    assert docker.image_id(reference) == sha256(arm64.config)
    assert docker.inspect(reference)["Architecture"] == "arm64"


def test_https_login_push_pull(docker, dtr_https, https_cert_dir, make_repo, tmp_path):
    """dockerd treats loopback as insecure: HTTPS without verifying DTR's certificate."""
    repo = make_repo(dtr_https)
    image = simple_image("docker-https", docker=True)
    reference = f"{dtr_https.host}/{repo}:v1"
    docker.load(image, reference, tmp_path)
    docker.login(dtr_https, "writer")
    digest = pushed_digest(docker("push", reference).stdout, "v1")
    admin = registry_client(dtr_https, verify=str(https_cert_dir / "ca.crt"))
    check_stored(admin, repo, "v1", digest, image)

    docker("rmi", reference)
    docker("pull", reference)
    assert docker.image_id(reference) == sha256(image.config)
    docker("logout", dtr_https.host)
    assert docker.auths().get(dtr_https.host) is None
