"""skopeo against DTR: copy in and out of OCI layouts, inspect, list-tags, delete, multi-arch
indexes, Docker schema 2 conversion, and HTTPS with real certificate verification."""

import json

import pytest

from tests.support.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    index_of,
    sha256,
    simple_image,
)
from tests.support.server import USERS

from .conftest import registry_client, stored_blobs_ok, tags_of

pytestmark = pytest.mark.e2e

INSECURE = "--tls-verify=false"


def creds(user):
    return f"{user}:{USERS[user][0]}"


def push_layout(skopeo, layout, tag, destination, user="admin", options=(), ok=True):
    """skopeo copy oci:LAYOUT:TAG DESTINATION as `user`, over plain HTTP."""
    return skopeo(
        "copy",
        "--dest-creds",
        creds(user),
        "--dest-tls-verify=false",
        *options,
        f"oci:{layout}:{tag}",
        destination,
        ok=ok,
    )


def multi_arch_layout(folder, tag, marker):
    """An OCI layout whose `tag` is an index of an amd64 and an arm64 image."""
    amd64 = simple_image(f"{marker}-amd64", arch="amd64")
    arm64 = simple_image(f"{marker}-arm64", arch="arm64")
    amd64.write_oci_layout(folder)
    arm64.write_oci_layout(folder)
    index = index_of([(amd64, "amd64"), (arm64, "arm64")])
    (folder / "blobs" / "sha256" / sha256(index).split(":")[1]).write_bytes(index)
    descriptor = {
        "mediaType": OCI_INDEX,
        "digest": sha256(index),
        "size": len(index),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    (folder / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]})
    )
    return index, amd64, arm64


def test_copy_inspect_list_tags_and_copy_back(skopeo, dtr, make_repo, tmp_path):
    repo = make_repo()
    image = simple_image("skopeo-roundtrip")
    layout = image.write_oci_layout(tmp_path / "layout", "v1")
    reference = f"docker://{dtr.host}/{repo}"
    push_layout(skopeo, layout, "v1", f"{reference}:v1")
    push_layout(skopeo, layout, "v1", f"{reference}:latest")

    info = json.loads(
        skopeo("inspect", "--creds", creds("admin"), INSECURE, f"{reference}:v1").stdout
    )
    assert info["Digest"] == image.digest
    assert info["Layers"] == [sha256(layer) for layer in image.layers]
    assert (info["Architecture"], info["Os"]) == ("amd64", "linux")
    raw = skopeo("inspect", "--raw", "--creds", creds("reader"), INSECURE, f"{reference}:v1")
    assert raw.stdout.encode() == image.manifest

    tags = json.loads(skopeo("list-tags", "--creds", creds("reader"), INSECURE, reference).stdout)
    assert sorted(tags["Tags"]) == ["latest", "v1"]

    out = tmp_path / "out"
    skopeo(
        "copy",
        "--src-creds",
        creds("reader"),
        "--src-tls-verify=false",
        f"{reference}:v1",
        f"oci:{out}:copied",
    )
    original = {p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}
    copied = {p.name: p.read_bytes() for p in (out / "blobs" / "sha256").iterdir()}
    assert copied == original  # manifest, config and layers, byte for byte
    index = json.loads((out / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [image.digest]


def test_copy_between_repositories(skopeo, dtr, make_repo, tmp_path):
    source, target = make_repo(), make_repo()
    image = simple_image("skopeo-between")
    layout = image.write_oci_layout(tmp_path / "layout", "v1")
    push_layout(skopeo, layout, "v1", f"docker://{dtr.host}/{source}:v1")
    skopeo(
        "copy",
        "--src-creds",
        creds("reader"),
        "--src-tls-verify=false",
        "--dest-creds",
        creds("writer"),
        "--dest-tls-verify=false",
        f"docker://{dtr.host}/{source}:v1",
        f"docker://{dtr.host}/{target}:copy",
    )
    admin = registry_client(dtr)
    response = admin.get_manifest(target, "copy")
    assert response.status_code == 200, response.text
    assert response.content == image.manifest
    assert response.headers["Docker-Content-Digest"] == image.digest
    blobs = stored_blobs_ok(admin, target, json.loads(response.content))
    assert list(blobs.values()) == image.blobs
    assert tags_of(admin, target) == ["copy"]


def test_delete_by_digest(skopeo, dtr, make_repo, tmp_path):
    repo = make_repo()
    image = simple_image("skopeo-delete")
    push_layout(
        skopeo, image.write_oci_layout(tmp_path / "l", "v1"), "v1", f"docker://{dtr.host}/{repo}:v1"
    )
    by_digest = f"docker://{dtr.host}/{repo}@{image.digest}"
    admin = registry_client(dtr)

    refused = skopeo("delete", "--creds", creds("reader"), INSECURE, by_digest, ok=False)
    assert "denied" in refused.stderr.lower() or "unauthorized" in refused.stderr.lower()
    assert admin.get_manifest(repo, image.digest).status_code == 200

    # a read-write user may delete (skopeo asks for the scope "*")
    skopeo("delete", "--creds", creds("writer"), INSECURE, by_digest)
    for reference in (image.digest, "v1"):
        response = admin.get_manifest(repo, reference)
        assert response.status_code == 404, response.text
        assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert tags_of(admin, repo) == []
    failed = skopeo("inspect", "--creds", creds("admin"), INSECURE, by_digest, ok=False)
    assert "manifest unknown" in failed.stderr.lower(), failed.stderr


def test_copy_all_of_multi_arch_index(skopeo, dtr, make_repo, tmp_path):
    repo = make_repo()
    index, amd64, arm64 = multi_arch_layout(tmp_path / "multi", "multi", "skopeo-multi")
    reference = f"docker://{dtr.host}/{repo}:multi"
    push_layout(skopeo, tmp_path / "multi", "multi", reference, options=["--all"])

    admin = registry_client(dtr)
    response = admin.get_manifest(repo, "multi")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == OCI_INDEX
    assert response.headers["Docker-Content-Digest"] == sha256(index)
    assert response.content == index
    for image in (amd64, arm64):
        child = admin.get_manifest(repo, image.digest)
        assert child.status_code == 200, child.text
        assert child.headers["Content-Type"] == OCI_MANIFEST
        assert child.content == image.manifest
        assert list(stored_blobs_ok(admin, repo, json.loads(child.content)).values()) == (
            image.blobs
        )

    raw = skopeo("inspect", "--raw", "--creds", creds("admin"), INSECURE, reference).stdout
    assert raw.encode() == index
    arm = skopeo(
        "inspect", "--override-arch", "arm64", "--creds", creds("admin"), INSECURE, reference
    )
    assert json.loads(arm.stdout)["Layers"] == [sha256(layer) for layer in arm64.layers]


def test_format_v2s2_converts_to_docker_schema_2(skopeo, dtr, make_repo, tmp_path):
    repo = make_repo()
    image = simple_image("skopeo-v2s2")
    layout = image.write_oci_layout(tmp_path / "layout", "v1")
    push_layout(
        skopeo, layout, "v1", f"docker://{dtr.host}/{repo}:docker", "writer", ["--format", "v2s2"]
    )

    admin = registry_client(dtr)
    response = admin.get_manifest(repo, "docker")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == DOCKER_MANIFEST
    manifest = json.loads(response.content)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == DOCKER_CONFIG
    assert manifest["config"]["digest"] == sha256(image.config)
    assert [layer["mediaType"] for layer in manifest["layers"]] == [DOCKER_LAYER] * 2
    assert [layer["digest"] for layer in manifest["layers"]] == [sha256(x) for x in image.layers]
    assert list(stored_blobs_ok(admin, repo, manifest).values()) == image.blobs
    digest = response.headers["Docker-Content-Digest"]
    assert digest != image.digest
    info = skopeo(
        "inspect", "--creds", creds("reader"), INSECURE, f"docker://{dtr.host}/{repo}:docker"
    )
    assert json.loads(info.stdout)["Digest"] == digest


def test_credentials_and_roles(skopeo, dtr, make_repo, tmp_path):
    """Wrong password refused; a role-`none` user pushes only into its own namespace."""
    layout = simple_image("skopeo-roles").write_oci_layout(tmp_path / "layout", "v1")
    private = make_repo()
    own = make_repo(namespace="nobody")

    wrong = skopeo(
        "inspect", "--creds", "admin:wrong", INSECURE, f"docker://{dtr.host}/{private}:v1", ok=False
    )
    assert "unauthorized" in wrong.stderr.lower() or "authentication" in wrong.stderr.lower()

    push_layout(skopeo, layout, "v1", f"docker://{dtr.host}/{own}:v1", "nobody")
    refused = push_layout(
        skopeo, layout, "v1", f"docker://{dtr.host}/{private}:v1", "nobody", ok=False
    )
    assert any(w in refused.stderr.lower() for w in ("denied", "unauthorized")), refused.stderr
    admin = registry_client(dtr)
    assert tags_of(admin, own) == ["v1"]
    assert tags_of(admin, private) == []


def test_https_with_verified_certificate(skopeo, dtr_https, https_cert_dir, make_repo, tmp_path):
    repo = make_repo(dtr_https)
    image = simple_image("skopeo-https")
    layout = image.write_oci_layout(tmp_path / "layout", "v1")
    reference = f"docker://{dtr_https.host}/{repo}:v1"
    skopeo(
        "copy",
        "--dest-cert-dir",
        https_cert_dir,
        "--dest-tls-verify=true",
        "--dest-creds",
        creds("writer"),
        f"oci:{layout}:v1",
        reference,
    )
    info = skopeo(
        "inspect",
        "--cert-dir",
        https_cert_dir,
        "--tls-verify=true",
        "--creds",
        creds("reader"),
        reference,
    )
    assert json.loads(info.stdout)["Digest"] == image.digest

    untrusted = tmp_path / "no-certs"
    untrusted.mkdir()
    failed = skopeo(
        "inspect",
        "--cert-dir",
        untrusted,
        "--tls-verify=true",
        "--creds",
        creds("reader"),
        reference,
        ok=False,
    )
    assert "certificate signed by unknown authority" in failed.stderr, failed.stderr
