"""OCI signatures against a running DTR (its own server: garbage collection is registry-wide):
cosign signatures made by the tests with their own keys, pushed through the registry API
(referrers and the sha256-<hex>.sig tag scheme), trusted keys of repositories and
namespaces, what the tags API says, the pull-only-signed policy, and garbage collection of
referrers with their subject."""

import json
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from tests.integration.test_api import Api, expect_error, ok
from tests.integration.test_gc import collect, settings
from tests.support.client import RegistryClient
from tests.support.images import OCI_INDEX, OCI_MANIFEST, index_of, sha256, simple_image
from tests.support.notation import COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, Authority, pem
from tests.support.server import USERS, DTRProcess
from tests.support.signing import (
    COSIGN_SIGNATURE_TYPE,
    NOTATION_TYPE,
    CosignSignature,
    artifact,
    ec_key,
    public_pem,
    rsa_key,
)

NO_KEY = "no trusted key of the repository or its namespace verifies it"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("signatures") / "instance")
    process.create_users()
    process.start()
    yield process
    process.stop()


def api(server, user="admin"):
    return Api(server.url, user, USERS[user][0]) if user else Api(server.url)


def registry(server, user="admin"):
    return RegistryClient(server.url, user, USERS[user][0]) if user else RegistryClient(server.url)


@pytest.fixture
def admin_api(server):
    return api(server)


@pytest.fixture
def client(server):
    return registry(server)


@pytest.fixture
def repo(admin_api):
    name = f"s{uuid.uuid4().hex[:10]}"
    ok(admin_api.post("/repositories/admin", json={"name": name}), 201)
    return f"admin/{name}"


def push(client, repo, tag, marker=None):
    image = simple_image(marker or uuid.uuid4().hex)
    client.push_image(repo, tag, image)
    return image


def tags(admin_api, repo):
    return {tag["name"]: tag for tag in ok(admin_api.get(f"/repositories/{repo}/tags"))["tags"]}


def trust(admin_api, repo, name, key, namespace=False):
    path = f"/repositoryNamespaces/{repo.split('/')[0]}" if namespace else f"/repositories/{repo}"
    return ok(
        admin_api.post(f"{path}/trustedKeys", json={"name": name, "pem": public_pem(key)}), 201
    )


def test_a_referrer_signature_counts_once_its_key_is_trusted(admin_api, client, repo):
    image = push(client, repo, "v1")
    key = ec_key()
    signature = CosignSignature(image.digest, len(image.manifest), [(key, None)])
    response = signature.push(client, repo)
    assert response.headers["OCI-Subject"] == image.digest

    v1 = tags(admin_api, repo)["v1"]
    assert v1["signed"] is False
    assert v1["signatures"] == [
        {
            "type": "cosign",
            "signer": None,
            "verified": False,
            "digest": signature.digest,
            "problem": NO_KEY,
        }
    ]
    assert v1["referrers"] == [
        {"digest": signature.digest, "artifactType": COSIGN_SIGNATURE_TYPE, "kind": "signature"}
    ]

    added = trust(admin_api, repo, "release", key)
    assert added["scope"] == "repository" and added["algorithm"] == "ecdsa-p256"
    assert added["fingerprint"].startswith("sha256:") and added["type"] == "publicKey"
    v1 = tags(admin_api, repo)["v1"]
    assert v1["signed"] is True
    assert (
        v1["signatures"][0] | {"signer": "release", "verified": True, "problem": None}
        == (v1["signatures"][0])
    )

    assert admin_api.delete(f"/repositories/{repo}/trustedKeys/release").status_code == 204
    assert tags(admin_api, repo)["v1"]["signed"] is False
    # signatures pushed after the key is trusted are verified at push
    trust(admin_api, repo, "release", key)
    other = push(client, repo, "v2")
    CosignSignature(other.digest, len(other.manifest), [(key, None)]).push(client, repo)
    assert tags(admin_api, repo)["v2"]["signatures"][0]["signer"] == "release"


def test_the_tag_scheme_and_a_namespace_key(admin_api, client, repo, server):
    org = f"o{uuid.uuid4().hex[:8]}"
    ok(admin_api.post("/accounts", json={"type": "organization", "name": org}), 201)
    ok(admin_api.post(f"/repositories/{org}", json={"name": "app"}), 201)
    app = f"{org}/app"
    image = push(client, app, "latest")
    key = ec_key()
    signature = CosignSignature(image.digest, len(image.manifest), [(key, None)], referrer=False)
    signature.push(client, app)

    listed = tags(admin_api, app)
    assert listed["latest"]["signed"] is False
    assert listed["latest"]["referrers"] == [
        {
            "digest": signature.digest,
            "artifactType": "application/vnd.oci.image.config.v1+json",
            "kind": "signature",
        }
    ]
    assert signature.tag in listed  # the signature's own tag
    trust(admin_api, app, "org-release", key, namespace=True)
    latest = tags(admin_api, app)["latest"]
    assert latest["signed"] is True and latest["signatures"][0]["signer"] == "org-release"
    keys = ok(admin_api.get(f"/repositories/{app}/trustedKeys"))["trustedKeys"]
    assert [(k["name"], k["scope"]) for k in keys] == [("org-release", "namespace")]
    # the same key does not sign the admin namespace's repositories
    other = push(client, repo, "v1")
    CosignSignature(other.digest, len(other.manifest), [(key, None)], referrer=False).push(
        client, repo
    )
    assert tags(admin_api, repo)["v1"]["signed"] is False


def test_untrusted_keys_and_other_digests_are_unverified(admin_api, client, repo):
    image = push(client, repo, "v1")
    elsewhere = push(client, repo, "v2")
    trusted, stranger = ec_key(), ec_key()
    trust(admin_api, repo, "ci", trusted)
    signers = [(stranger, None), (trusted, elsewhere.digest), (trusted, None)]
    signature = CosignSignature(image.digest, len(image.manifest), signers)
    signature.push(client, repo)
    found = tags(admin_api, repo)["v1"]["signatures"]
    assert [(s["verified"], s["signer"]) for s in found] == [
        (False, None),
        (False, None),
        (True, "ci"),
    ]
    assert found[0]["problem"] == NO_KEY
    assert found[1]["problem"] == f"it signs {elsewhere.digest}, not this manifest"
    assert tags(admin_api, repo)["v2"]["signed"] is False  # not attached to v2

    lone = CosignSignature(elsewhere.digest, len(elsewhere.manifest), [(stranger, None)])
    lone.push(client, repo)
    assert tags(admin_api, repo)["v2"]["signed"] is False


def test_rsa_keys_verify_too(admin_api, client, repo):
    image = push(client, repo, "v1")
    key = rsa_key()
    assert trust(admin_api, repo, "rsa", key)["algorithm"] == "rsa-2048"
    CosignSignature(image.digest, len(image.manifest), [(key, None)]).push(client, repo)
    assert tags(admin_api, repo)["v1"]["signatures"][0]["signer"] == "rsa"


def test_other_referrers_are_listed_as_what_they_are(admin_api, client, repo):
    image = push(client, repo, "v1")
    size = len(image.manifest)
    attached = [
        artifact(
            image.digest,
            size,
            "application/spdx+json",
            b'{"spdxVersion":"SPDX-2.3"}',
            "application/spdx+json",
        ),
        artifact(
            image.digest,
            size,
            "application/vnd.in-toto+json",
            b'{"payloadType":"x"}',
            "application/vnd.dsse.envelope.v1+json",
        ),
        artifact(
            image.digest,
            size,
            NOTATION_TYPE,
            b'{"payload":"e30","signatures":[]}',
            "application/jose+json",
        ),
    ]
    for manifest, blobs in attached:
        for blob in blobs:
            client.push_blob(repo, blob)
        response = client.push_manifest(repo, sha256(manifest), manifest, OCI_MANIFEST)
        assert response.status_code == 201, response.text
    v1 = tags(admin_api, repo)["v1"]
    assert sorted((r["kind"], r["artifactType"]) for r in v1["referrers"]) == [
        ("attestation", "application/vnd.in-toto+json"),
        ("sbom", "application/spdx+json"),
        ("signature", NOTATION_TYPE),
    ]
    assert v1["signed"] is False
    assert [(s["type"], s["verified"]) for s in v1["signatures"]] == [("notation", False)]
    assert (
        v1["signatures"][0]["problem"] == "the JWS envelope lacks payload, protected or signature"
    )


def push_notation(client, repo, image, envelope, media_type=JWS_MEDIA_TYPE):
    manifest, blobs = artifact(
        image.digest, len(image.manifest), NOTATION_TYPE, envelope, media_type
    )
    for blob in blobs:
        client.push_blob(repo, blob)
    response = client.push_manifest(repo, sha256(manifest), manifest, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    return sha256(manifest)


def test_notation_signatures_count_when_their_chain_leads_to_a_trusted_certificate(
    admin_api, client, repo
):
    image = push(client, repo, "v1")
    authority = Authority(name="release-root", signer="build-bot")
    digest = push_notation(client, repo, image, authority.sign(image.digest))
    v1 = tags(admin_api, repo)["v1"]
    assert v1["signed"] is False
    assert v1["signatures"] == [
        {
            "type": "notation",
            "signer": "build-bot",
            "verified": False,
            "digest": digest,
            "problem": NO_KEY,
        }
    ]

    path = f"/repositories/{repo}/trustedKeys"
    added = ok(admin_api.post(path, json={"name": "release-ca", "pem": pem(authority.cert)}), 201)
    assert added["type"] == "certificate"
    v1 = tags(admin_api, repo)["v1"]
    assert v1["signed"] is True
    assert (
        v1["signatures"][0] | {"signer": "release-ca", "verified": True, "problem": None}
        == (v1["signatures"][0])
    )

    # a signature pushed once the certificate is trusted is verified at push (PS256 here);
    # another CA's, a COSE envelope and one of another image are not
    rsa_signed = Authority(name="rsa-root", rsa_leaf=True)
    v2 = push(client, repo, "v2")
    push_notation(client, repo, v2, Authority().sign(v2.digest))
    push_notation(client, repo, v2, authority.sign(image.digest))
    push_notation(client, repo, v2, b"\xd2\x84", COSE_MEDIA_TYPE)
    ok(admin_api.post(path, json={"name": "rsa-ca", "pem": pem(rsa_signed.cert)}), 201)
    push_notation(client, repo, v2, rsa_signed.sign(v2.digest))
    found = {
        (s["verified"], s["signer"], s["problem"])
        for s in tags(admin_api, repo)["v2"]["signatures"]
    }
    assert found == {
        (False, "build-bot", NO_KEY),
        (False, None, f"it signs {image.digest}, not its subject {v2.digest}"),
        (False, None, "notation COSE envelopes are listed, not verified, by DTR"),
        (True, "rsa-ca", None),
    }

    assert admin_api.delete(f"{path}/release-ca").status_code == 204
    assert tags(admin_api, repo)["v1"]["signed"] is False
    assert tags(admin_api, repo)["v2"]["signed"] is True


# --- the policy ----------------------------------------------------------------------------


def test_pull_only_signed_refuses_unsigned_images_to_non_admins(admin_api, client, repo, server):
    key = ec_key()
    trust(admin_api, repo, "release", key)
    signed = push(client, repo, "signed")
    signature = CosignSignature(signed.digest, len(signed.manifest), [(key, None)])
    signature.push(client, repo)
    unsigned = push(client, repo, "unsigned")
    ok(admin_api.put(f"/repositories/{repo}/userAccess/reader", json={"accessLevel": "read-only"}))

    changed = ok(admin_api.patch(f"/repositories/{repo}", json={"pullOnlySigned": True}))
    assert changed["pullOnlySigned"] is True

    for user in ("reader", "writer"):
        puller = registry(server, user)
        for reference in ("unsigned", unsigned.digest):
            response = puller.get_manifest(repo, reference)
            assert response.status_code == 403, response.text
            error = response.json()["errors"][0]
            assert error["code"] == "DENIED"
            assert "pullOnlySigned" in error["message"] and unsigned.digest in error["message"]
            assert error["detail"]["policy"] == "pullOnlySigned"
        assert puller.request("HEAD", f"/v2/{repo}/manifests/unsigned").status_code == 403
        for reference in ("signed", signed.digest):
            response = puller.get_manifest(repo, reference)
            assert response.status_code == 200 and response.content == signed.manifest
        # the signature itself, and the referrers list, stay readable to verify with
        assert puller.get_manifest(repo, signature.digest).status_code == 200
        referrers = puller.request("GET", f"/v2/{repo}/referrers/{signed.digest}").json()
        assert [d["digest"] for d in referrers["manifests"]] == [signature.digest]

    # HTTP Basic instead of a token
    basic = requests.get(
        f"{server.url}/v2/{repo}/manifests/unsigned",
        auth=("reader", USERS["reader"][0]),
        headers={"Accept": OCI_MANIFEST},
    )
    assert basic.status_code == 403 and basic.json()["errors"][0]["code"] == "DENIED"
    # admins (admin level on the repository) may pull anything
    assert client.get_manifest(repo, "unsigned").status_code == 200
    # pushes are never refused, and a pushed image is refused until signed
    writer = registry(server, "writer")
    newer = simple_image(uuid.uuid4().hex)
    assert writer.push_image(repo, "newer", newer) == newer.digest
    assert writer.get_manifest(repo, "newer").status_code == 403
    CosignSignature(newer.digest, len(newer.manifest), [(key, None)]).push(writer, repo)
    assert writer.get_manifest(repo, "newer").status_code == 200
    # switched off: everything goes again
    ok(admin_api.patch(f"/repositories/{repo}", json={"pullOnlySigned": False}))
    assert registry(server, "reader").get_manifest(repo, "unsigned").status_code == 200


def test_a_signed_index_lets_its_images_be_pulled(admin_api, client, repo, server):
    key = ec_key()
    trust(admin_api, repo, "release", key)
    amd64, arm64 = simple_image(uuid.uuid4().hex), simple_image(uuid.uuid4().hex, arch="arm64")
    for image in (amd64, arm64):
        client.push_image(repo, image.digest, image)
    index = index_of([(amd64, "amd64"), (arm64, "arm64")])
    assert client.push_manifest(repo, "multi", index, OCI_INDEX).status_code == 201
    lone = push(client, repo, "lone")
    ok(admin_api.patch(f"/repositories/{repo}", json={"pullOnlySigned": True}))
    reader = registry(server, "reader")
    assert reader.get_manifest(repo, "multi").status_code == 403
    assert reader.get_manifest(repo, amd64.digest).status_code == 403

    signature = CosignSignature(sha256(index), len(index), [(key, None)])
    signature.push(client, repo)
    assert reader.get_manifest(repo, "multi").status_code == 200
    assert reader.get_manifest(repo, amd64.digest).status_code == 200
    assert reader.get_manifest(repo, arm64.digest).status_code == 200
    assert reader.get_manifest(repo, "lone").status_code == 403
    assert tags(admin_api, repo)["multi"]["signed"] is True
    assert lone.digest not in json.dumps(tags(admin_api, repo)["multi"])


def test_the_policy_setting_is_checked(admin_api, server, repo):
    expect_error(
        admin_api.patch(f"/repositories/{repo}", json={"pullOnlySigned": "yes"}),
        400,
        "INVALID_INPUT",
        "pullOnlySigned",
    )
    assert ok(admin_api.get(f"/repositories/{repo}"))["pullOnlySigned"] is False
    ok(admin_api.put(f"/repositories/{repo}/userAccess/reader", json={"accessLevel": "read-only"}))
    expect_error(
        api(server, "reader").patch(f"/repositories/{repo}", json={"pullOnlySigned": True}),
        403,
        "NOT_AUTHORIZED",
    )


# --- trusted keys: who may, and what is refused ----------------------------------------------


def test_trusted_key_permissions_and_bad_keys(admin_api, server, repo):
    path = f"/repositories/{repo}/trustedKeys"
    body = {"name": "k", "pem": public_pem(ec_key())}
    # anonymous callers: a private repository is unknown to them, a public one needs a login
    expect_error(api(server, None).post(path, json=body), 404, "NO_SUCH_RESOURCE")
    ok(
        admin_api.post(
            "/repositories/admin", json={"name": repo[6:] + "p", "visibility": "public"}
        ),
        201,
    )
    public = f"/repositories/{repo}p/trustedKeys"
    expect_error(api(server, None).post(public, json=body), 401, "NOT_AUTHENTICATED")
    expect_error(api(server, None).delete(f"{public}/k"), 401, "NOT_AUTHENTICATED")
    assert ok(api(server, None).get(public)) == {"trustedKeys": []}
    expect_error(api(server, "nobody").post(path, json=body), 404, "NO_SUCH_RESOURCE")
    expect_error(api(server, "reader").post(path, json=body), 403, "NOT_AUTHORIZED")
    expect_error(api(server, "writer").delete(f"{path}/k"), 403, "NOT_AUTHORIZED")
    assert ok(api(server, "reader").get(path)) == {"trustedKeys": []}

    expect_error(
        admin_api.post(path, json={"name": "k", "pem": "not a key"}),
        400,
        "INVALID_INPUT",
        "pem",
        text="not a PEM public key",
    )
    private = ec_key()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    expect_error(
        admin_api.post(path, json={"name": "k", "pem": private_pem}),
        400,
        "INVALID_INPUT",
        "pem",
        text="private key",
    )
    expect_error(
        admin_api.post(path, json={"name": "bad name!", "pem": body["pem"]}),
        400,
        "INVALID_INPUT",
        "name",
    )
    expect_error(admin_api.post(path, json={"name": "k"}), 400, "INVALID_INPUT", "pem")
    assert ok(admin_api.get(path)) == {"trustedKeys": []}  # nothing was stored

    ok(admin_api.post(path, json=body), 201)
    expect_error(admin_api.post(path, json=body), 409, "ALREADY_EXISTS")
    expect_error(
        admin_api.post(path, json={**body, "name": "again"}), 409, "ALREADY_EXISTS", text="'k'"
    )
    assert admin_api.delete(f"{path}/k").status_code == 204
    assert admin_api.delete(f"{path}/k").status_code == 204  # idempotent
    assert ok(admin_api.get(path)) == {"trustedKeys": []}


def test_namespace_keys_are_for_namespace_admins(admin_api, server):
    org = f"o{uuid.uuid4().hex[:8]}"
    ok(admin_api.post("/accounts", json={"type": "organization", "name": org}), 201)
    path = f"/repositoryNamespaces/{org}/trustedKeys"
    body = {"name": "team-key", "pem": public_pem(ec_key())}
    expect_error(api(server, None).post(path, json=body), 401, "NOT_AUTHENTICATED")
    expect_error(api(server, None).get(path), 401, "NOT_AUTHENTICATED")
    expect_error(api(server, "writer").post(path, json=body), 403, "NOT_AUTHORIZED")
    expect_error(
        admin_api.post("/repositoryNamespaces/nosuchorg/trustedKeys", json=body),
        404,
        "NO_SUCH_RESOURCE",
    )
    ok(admin_api.put(f"/accounts/{org}/teams/owners/members/writer"), 201)  # an owner now
    created = ok(api(server, "writer").post(path, json=body), 201)
    assert created["scope"] == "namespace" and created["createdBy"] == "writer"
    assert [k["name"] for k in ok(api(server, "reader").get(path))["trustedKeys"]] == ["team-key"]
    expect_error(api(server, "reader").delete(f"{path}/team-key"), 403, "NOT_AUTHORIZED")
    assert api(server, "writer").delete(f"{path}/team-key").status_code == 204
    # users manage the keys of their own namespace
    mine = "/repositoryNamespaces/reader/trustedKeys"
    ok(api(server, "reader").post(mine, json=body), 201)
    expect_error(api(server, "writer").post(mine, json=body), 403, "NOT_AUTHORIZED")


# --- garbage collection ----------------------------------------------------------------------


def test_gc_keeps_referrers_while_their_subject_lives_and_collects_them_with_it(
    admin_api, client, repo, server
):
    settings(admin_api, graceWindowMinutes=0, deleteUntaggedManifests=True)
    key = ec_key()
    trust(admin_api, repo, "release", key)
    image = push(client, repo, "v1")
    signature = CosignSignature(image.digest, len(image.manifest), [(key, None)])
    signature.push(client, repo)
    sbom, blobs = artifact(
        image.digest,
        len(image.manifest),
        "application/spdx+json",
        b'{"spdxVersion":"SPDX-2.3","name":"gc"}',
        "application/spdx+json",
    )
    for blob in blobs:
        client.push_blob(repo, blob)
    assert client.push_manifest(repo, sha256(sbom), sbom, OCI_MANIFEST).status_code == 201

    collect(admin_api)
    for digest in (image.digest, signature.digest, sha256(sbom)):
        assert client.get_manifest(repo, digest).status_code == 200
    for blob in signature.blobs:
        assert client.request("GET", f"/v2/{repo}/blobs/{sha256(blob)}").status_code == 200
    assert tags(admin_api, repo)["v1"]["signed"] is True

    assert admin_api.delete(f"/repositories/{repo}/tags/v1").status_code == 204
    job = collect(admin_api)
    assert job["manifestsDeleted"] >= 3
    for digest in (image.digest, signature.digest, sha256(sbom)):
        assert client.get_manifest(repo, digest).status_code == 404
    for blob in signature.blobs:
        assert client.request("GET", f"/v2/{repo}/blobs/{sha256(blob)}").status_code == 404
    referrers = client.request("GET", f"/v2/{repo}/referrers/{image.digest}").json()
    assert referrers["manifests"] == []


def test_gc_treats_cosign_signature_tags_as_attached_to_their_image(admin_api, client, repo):
    """A `sha256-<hex>.sig` tag keeps its signature only while the image lives."""
    settings(admin_api, graceWindowMinutes=0, deleteUntaggedManifests=True)
    image = push(client, repo, "v1")
    signature = CosignSignature(image.digest, len(image.manifest), [(ec_key(), None)], False)
    signature.push(client, repo)
    collect(admin_api)
    assert client.get_manifest(repo, signature.tag).status_code == 200
    assert client.get_manifest(repo, image.digest).status_code == 200

    assert admin_api.delete(f"/repositories/{repo}/tags/v1").status_code == 204
    collect(admin_api)
    assert client.get_manifest(repo, image.digest).status_code == 404
    assert client.get_manifest(repo, signature.tag).status_code == 404
    assert signature.tag not in tags(admin_api, repo)
    for blob in signature.blobs:
        assert client.request("GET", f"/v2/{repo}/blobs/{sha256(blob)}").status_code == 404


def test_keys_and_signatures_go_with_their_repository(admin_api, client, repo):
    key = ec_key()
    trust(admin_api, repo, "release", key)
    image = push(client, repo, "v1")
    CosignSignature(image.digest, len(image.manifest), [(key, None)]).push(client, repo)
    assert admin_api.delete(f"/repositories/{repo}").status_code == 204
    ok(admin_api.post("/repositories/admin", json={"name": repo.split("/")[1]}), 201)
    assert ok(admin_api.get(f"/repositories/{repo}/trustedKeys")) == {"trustedKeys": []}
    client.push_image(repo, "v1", image)  # the same image again: its signature is gone
    assert tags(admin_api, repo)["v1"]["signatures"] == []
    assert client.request("GET", f"/v2/{repo}/referrers/{image.digest}").json()["manifests"] == []
