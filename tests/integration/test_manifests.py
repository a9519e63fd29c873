"""Manifests of every supported type, tags list, catalog, referrers, and their errors."""

import json

import requests

from tests.support.images import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    index_of,
    sha256,
    simple_image,
)


def error_code(response):
    return response.json()["errors"][0]["code"]


def test_docker_schema2_by_tag_and_digest(admin, repo):
    image = simple_image("docker-v2", docker=True)
    response = (
        admin.push_manifest(repo, "v1", image.manifest, image.media_type)
        if all(admin.push_blob(repo, b) for b in image.blobs)
        else None
    )
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{repo}/manifests/{image.digest}"
    assert response.headers["Docker-Content-Digest"] == image.digest
    for reference in ("v1", image.digest):
        got = admin.get_manifest(repo, reference)
        assert got.status_code == 200
        assert got.content == image.manifest
        assert got.headers["Content-Type"] == image.media_type
        assert got.headers["Docker-Content-Digest"] == image.digest
        head = admin.request("HEAD", f"/v2/{repo}/manifests/{reference}")
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(image.manifest))
        assert head.headers["Docker-Content-Digest"] == image.digest


def test_indexes_of_both_kinds(admin, repo):
    amd, arm = simple_image("idx-amd"), simple_image("idx-arm", arch="arm64")
    for image in (amd, arm):
        admin.push_image(repo, image.digest.replace(":", "-"), image)
    for docker, media_type in ((False, OCI_INDEX), (True, DOCKER_LIST)):
        body = index_of([(amd, "amd64"), (arm, "arm64")], docker=docker)
        response = admin.push_manifest(repo, "multi", body, media_type)
        assert response.status_code == 201, response.text
        got = admin.get_manifest(repo, "multi")
        assert got.headers["Content-Type"] == media_type
        assert got.content == body


def test_push_by_digest_and_wrong_digest(admin, repo):
    image = simple_image("by-digest")
    for blob in image.blobs:
        admin.push_blob(repo, blob)
    ok = admin.push_manifest(repo, image.digest, image.manifest, OCI_MANIFEST)
    assert ok.status_code == 201
    assert admin.get_manifest(repo, image.digest).content == image.manifest
    wrong = admin.push_manifest(repo, sha256(b"other"), image.manifest, OCI_MANIFEST)
    assert wrong.status_code == 400 and error_code(wrong) == "DIGEST_INVALID"


def test_manifest_naming_a_missing_blob_is_refused(admin, repo):
    image = simple_image("missing-layer")
    admin.push_blob(repo, image.config)  # layers never pushed
    response = admin.push_manifest(repo, "broken", image.manifest, OCI_MANIFEST)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert admin.get_manifest(repo, "broken").status_code == 404
    # an index naming a manifest the repository does not have
    index = index_of([(image, "amd64")])
    response = admin.push_manifest(repo, "broken-index", index, OCI_INDEX)
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"


def test_blob_of_another_repository_does_not_count(admin, repo, public_repo):
    image = simple_image("other-repo")
    for blob in image.blobs:
        admin.push_blob(public_repo, blob)
    response = admin.push_manifest(repo, "x", image.manifest, OCI_MANIFEST)
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"


def test_invalid_manifests(admin, repo):
    cases = {
        b"{not json": "MANIFEST_INVALID",
        b"[]": "MANIFEST_INVALID",
        b'{"schemaVersion": 2, "mediaType": "%s", "config": {}, "layers": []}'
        % OCI_MANIFEST.encode(): "MANIFEST_INVALID",
        b'{"schemaVersion": 3}': "MANIFEST_INVALID",
    }
    for body, code in cases.items():
        response = admin.push_manifest(repo, "bad", body, OCI_MANIFEST)
        assert response.status_code == 400, body
        assert error_code(response) == code, body
    schema1 = admin.push_manifest(
        repo,
        "old",
        b'{"schemaVersion": 1}',
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    )
    assert error_code(schema1) == "UNSUPPORTED"
    mismatch = simple_image("mismatch")
    for blob in mismatch.blobs:
        admin.push_blob(repo, blob)
    response = admin.push_manifest(repo, "mismatch", mismatch.manifest, OCI_INDEX)
    assert error_code(response) == "MANIFEST_INVALID"
    bad_tag = admin.push_manifest(repo, "-bad!", mismatch.manifest, OCI_MANIFEST)
    assert bad_tag.status_code == 400
    assert admin.request("GET", f"/v2/{repo}/tags/list").json()["tags"] in (None, [])


def test_oversize_manifest_is_413(admin, repo):
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    response = admin.push_manifest(repo, "huge", body, OCI_MANIFEST)
    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"


def test_delete_by_tag_and_by_digest(admin, repo):
    image = simple_image("deletions")
    admin.push_image(repo, "a", image)
    admin.push_manifest(repo, "b", image.manifest, OCI_MANIFEST)
    assert admin.request("DELETE", f"/v2/{repo}/manifests/a").status_code == 202
    assert admin.get_manifest(repo, "a").status_code == 404
    assert admin.get_manifest(repo, image.digest).status_code == 200
    assert admin.request("DELETE", f"/v2/{repo}/manifests/{image.digest}").status_code == 202
    for reference in ("b", image.digest):
        response = admin.get_manifest(repo, reference)
        assert response.status_code == 404 and error_code(response) == "MANIFEST_UNKNOWN"
    again = admin.request("DELETE", f"/v2/{repo}/manifests/{image.digest}")
    assert again.status_code == 404


def test_tags_list_sorted_and_paginated(admin, repo):
    image = simple_image("tags")
    admin.push_image(repo, "seed", image)
    names = ["b", "a", "c10", "c2", "latest", "v1.0"]
    for name in names:
        assert admin.push_manifest(repo, name, image.manifest, OCI_MANIFEST).status_code == 201
    everything = sorted(names + ["seed"])
    full = admin.request("GET", f"/v2/{repo}/tags/list")
    assert full.json() == {"name": repo, "tags": everything}
    assert "Link" not in full.headers
    page = admin.request("GET", f"/v2/{repo}/tags/list", params={"n": 3})
    assert page.json()["tags"] == everything[:3]
    assert page.headers["Link"] == f'</v2/{repo}/tags/list?n=3&last={everything[2]}>; rel="next"'
    following = admin.request("GET", page.headers["Link"].split(";")[0].strip("<>"))
    assert following.json()["tags"] == everything[3:6]
    last = admin.request("GET", f"/v2/{repo}/tags/list", params={"n": 3, "last": everything[5]})
    assert last.json()["tags"] == everything[6:]
    exact = admin.request("GET", f"/v2/{repo}/tags/list", params={"n": len(everything)})
    assert exact.json()["tags"] == everything and "Link" not in exact.headers
    bad = admin.request("GET", f"/v2/{repo}/tags/list", params={"n": "x"})
    assert bad.status_code == 400


def test_catalog_for_admins_only(client_for, repo, public_repo):
    admin = client_for("admin")
    listing = admin.request("GET", "/v2/_catalog").json()["repositories"]
    assert repo in listing and public_repo in listing and listing == sorted(listing)
    page = admin.request("GET", "/v2/_catalog", params={"n": 1})
    assert len(page.json()["repositories"]) == 1 and 'rel="next"' in page.headers["Link"]
    second = admin.request(
        "GET", "/v2/_catalog", params={"n": 1, "last": page.json()["repositories"][0]}
    )
    assert second.json()["repositories"] == [listing[1]]
    writer = client_for("writer").request("GET", "/v2/_catalog")
    assert writer.status_code in (401, 403)
    basic = requests.get(f"{admin.url}/v2/_catalog", auth=("reader", "reader-password-1"))
    assert basic.status_code == 403 and error_code(basic) == "DENIED"


def test_artifact_with_subject_and_referrers(admin, repo):
    image = simple_image("subject")
    admin.push_image(repo, "base", image)
    empty = b"{}"
    admin.push_blob(repo, empty)

    def artifact(kind, payload):
        layer = admin.push_blob(repo, payload)
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": kind,
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": sha256(empty),
                    "size": 2,
                },
                "layers": [
                    {"mediaType": "application/octet-stream", "digest": layer, "size": len(payload)}
                ],
                "subject": {
                    "mediaType": OCI_MANIFEST,
                    "digest": image.digest,
                    "size": len(image.manifest),
                },
                "annotations": {"org.example.kind": kind},
            }
        ).encode()

    sbom = artifact("application/spdx+json", b"sbom")
    sig = artifact("application/vnd.dev.cosign.artifact.sig.v1+json", b"sig")
    for body in (sbom, sig):
        response = admin.push_manifest(repo, sha256(body), body, OCI_MANIFEST)
        assert response.status_code == 201, response.text
        assert response.headers["OCI-Subject"] == image.digest
    listing = admin.request("GET", f"/v2/{repo}/referrers/{image.digest}")
    assert listing.status_code == 200
    assert listing.headers["Content-Type"] == OCI_INDEX
    body = listing.json()
    assert body["mediaType"] == OCI_INDEX and body["schemaVersion"] == 2
    assert {m["digest"] for m in body["manifests"]} == {sha256(sbom), sha256(sig)}
    assert {m["artifactType"] for m in body["manifests"]} == {
        "application/spdx+json",
        "application/vnd.dev.cosign.artifact.sig.v1+json",
    }
    filtered = admin.request(
        "GET",
        f"/v2/{repo}/referrers/{image.digest}",
        params={"artifactType": "application/spdx+json"},
    )
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [sha256(sbom)]
    assert filtered.json()["manifests"][0]["annotations"] == {
        "org.example.kind": "application/spdx+json"
    }
    none = admin.request("GET", f"/v2/{repo}/referrers/{sha256(b'nothing')}")
    assert none.status_code == 200 and none.json()["manifests"] == []
