"""Repository names, the must-exist rule, create-on-push, and who may do what."""

import time

import requests

from tests.support.images import OCI_MANIFEST, sha256, simple_image


def error_code(response):
    return response.json()["errors"][0]["code"]


def test_invalid_names(admin, dtr):
    names = [
        "../x",
        "admin/../x",
        "Admin/Repo",
        "admin/UPPER",
        "a" * 120 + "/" + "b" * 140,
        "single",
        "admin/-x",
        "admin//x",
        "admin/x/y/../z",
        "%2e%2e/x",
    ]
    for name in names:
        response = admin.request("GET", f"/v2/{name}/tags/list")
        assert response.status_code in (400, 404), name
        if response.status_code == 400:
            assert error_code(response) == "NAME_INVALID", name
    # the spec's NAME_INVALID for the main cases
    for name in ["Admin/Repo", "a" * 120 + "/" + "b" * 140, "single"]:
        response = admin.request("GET", f"/v2/{name}/tags/list")
        assert response.status_code == 400 and error_code(response) == "NAME_INVALID", name
    assert requests.get(f"{dtr.url}/health").ok  # still serving


def test_push_to_missing_repository_says_so(client_for):
    writer = client_for("writer")
    response = writer.request("POST", "/v2/writer/never-created/blobs/uploads/")
    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"
    assert "does not exist" in response.json()["errors"][0]["message"]


def test_create_on_push_creates_in_own_namespace_only(client_for, dtr):
    assert dtr.cli("setting", "create_on_push", "true").returncode == 0
    try:
        time.sleep(5.5)  # settings are cached for 5 seconds
        writer = client_for("writer")
        image = simple_image("create-on-push")
        assert writer.push_image("writer/auto-created", "v1", image) == image.digest
        other = writer.request("POST", "/v2/reader/auto/blobs/uploads/")
        assert other.status_code == 404 and error_code(other) == "NAME_UNKNOWN"
    finally:
        assert dtr.cli("setting", "create_on_push", "false").returncode == 0


def test_roles_on_a_private_repository(client_for, repo):
    image = simple_image("roles")
    client_for("admin").push_image(repo, "v1", image)
    reader, writer, nobody, anonymous = (
        client_for(u) for u in ("reader", "writer", "nobody", None)
    )
    assert reader.get_manifest(repo, "v1").status_code == 200
    refused = reader.push_manifest(repo, "v2", image.manifest, OCI_MANIFEST)
    assert refused.status_code == 403 and error_code(refused) == "DENIED"
    assert writer.push_manifest(repo, "v2", image.manifest, OCI_MANIFEST).status_code == 201
    assert writer.request("DELETE", f"/v2/{repo}/manifests/v2").status_code == 202
    assert nobody.get_manifest(repo, "v1").status_code == 401
    assert anonymous.get_manifest(repo, "v1").status_code == 401
    # with HTTP Basic, a repository the caller may not see does not exist
    basic = requests.get(f"{reader.url}/v2/{repo}/tags/list", auth=("nobody", "nobody-password-1"))
    assert basic.status_code == 404 and error_code(basic) == "NAME_UNKNOWN"
    tags = client_for("admin").request("GET", f"/v2/{repo}/tags/list").json()["tags"]
    assert tags == ["v1"]


def test_public_repository_anonymous_pull_but_no_push(client_for, public_repo):
    image = simple_image("public")
    client_for("admin").push_image(public_repo, "v1", image)
    anonymous = client_for(None)
    got = anonymous.get_manifest(public_repo, "v1")
    assert got.status_code == 200 and got.content == image.manifest
    blob = anonymous.request("GET", f"/v2/{public_repo}/blobs/{sha256(image.layers[0])}")
    assert blob.content == image.layers[0]
    push = anonymous.request("POST", f"/v2/{public_repo}/blobs/uploads/")
    assert push.status_code == 401
    nobody = client_for("nobody")
    assert nobody.get_manifest(public_repo, "v1").status_code == 200
    assert nobody.request("POST", f"/v2/{public_repo}/blobs/uploads/").status_code == 403


def test_own_namespace_is_yours(client_for, dtr):
    assert dtr.cli("create-repo", "nobody/own").returncode in (0, 1)
    nobody = client_for("nobody")
    image = simple_image("own")
    assert nobody.push_image("nobody/own", "v1", image) == image.digest
    assert client_for("writer").get_manifest("nobody/own", "v1").status_code == 200
