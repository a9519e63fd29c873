"""Cosign signatures pushed to DTR with skopeo (Debian's skopeo is built without sigstore
signing, so the test makes the signature artifacts itself, as cosign writes them, and skopeo
copies them from OCI layouts): the sha256-<hex>.sig tag scheme and a referrer. DTR verifies
them with the trusted public key, the pull-only-signed policy lets the signed image through
and refuses the others, and the signature reads back byte for byte."""

import json

import pytest

from tests.integration.test_api import Api, ok
from tests.support.images import OCI_INDEX, OCI_MANIFEST, sha256, simple_image
from tests.support.server import USERS
from tests.support.signing import CosignSignature, ec_key, public_pem

from .test_skopeo import INSECURE, creds, push_layout

pytestmark = pytest.mark.e2e


def artifact_layout(folder, signature: CosignSignature, tag):
    """An OCI layout holding the signature artifact under `tag`."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for blob in [*signature.blobs, signature.manifest]:
        (blobs / sha256(blob).split(":")[1]).write_bytes(blob)
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    descriptor = {
        "mediaType": OCI_MANIFEST,
        "digest": signature.digest,
        "size": len(signature.manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
    (folder / "index.json").write_text(json.dumps(index))
    return folder


def tags_of(admin, repo):
    return {t["name"]: t for t in ok(admin.get(f"/repositories/{repo}/tags"))["tags"]}


def test_skopeo_pushes_signatures_dtr_verifies_and_the_policy_follows(
    skopeo, dtr, make_repo, tmp_path
):
    admin = Api(dtr.url, "admin", USERS["admin"][0])
    repo = make_repo()
    reference = f"docker://{dtr.host}/{repo}"
    key, stranger = ec_key(), ec_key()
    ok(admin.put(f"/repositories/{repo}/userAccess/reader", json={"accessLevel": "read-only"}))
    body = {"name": "release", "pem": public_pem(key)}
    ok(admin.post(f"/repositories/{repo}/trustedKeys", json=body), 201)

    images = {
        name: simple_image(f"skopeo-{name}") for name in ("tagged", "referred", "plain", "other")
    }
    for name, image in images.items():
        layout = image.write_oci_layout(tmp_path / name, "v1")
        push_layout(skopeo, layout, "v1", f"{reference}:{name}")
    host_reference = f"{dtr.host}/{repo}"
    signatures = {
        "tagged": CosignSignature(
            images["tagged"].digest,
            len(images["tagged"].manifest),
            [(key, None)],
            referrer=False,
            reference=host_reference,
        ),
        "referred": CosignSignature(
            images["referred"].digest,
            len(images["referred"].manifest),
            [(key, None)],
            reference=host_reference,
        ),
        "other": CosignSignature(
            images["other"].digest,
            len(images["other"].manifest),
            [(stranger, None)],
            referrer=False,
            reference=host_reference,
        ),
    }
    for name, signature in signatures.items():
        tag = signature.tag if not signature.referrer else "referrer"
        layout = artifact_layout(tmp_path / f"{name}-signature", signature, tag)
        destination = (
            f"{reference}:{signature.tag}"
            if not signature.referrer
            else (f"{reference}@{signature.digest}")
        )
        push_layout(skopeo, layout, tag, destination, options=("--preserve-digests",))

    tags = tags_of(admin, repo)
    for name in ("tagged", "referred"):
        assert tags[name]["signed"] is True, tags[name]
        (found,) = tags[name]["signatures"]
        assert (found["signer"], found["digest"]) == ("release", signatures[name].digest)
    assert tags["other"]["signed"] is False
    assert [s["verified"] for s in tags["other"]["signatures"]] == [False]
    assert tags["plain"]["signatures"] == [] and tags["plain"]["referrers"] == []

    ok(admin.patch(f"/repositories/{repo}", json={"pullOnlySigned": True}))
    reader = ("--creds", creds("reader"), INSECURE)
    for name in ("tagged", "referred"):
        info = json.loads(skopeo("inspect", *reader, f"{reference}:{name}").stdout)
        assert info["Digest"] == images[name].digest
    for name in ("plain", "other"):
        failed = skopeo("inspect", *reader, f"{reference}:{name}", ok=False)
        assert "pullOnlySigned" in failed.stderr, failed.stderr
    # the signatures stay readable, byte for byte, to clients that verify them
    raw = skopeo("inspect", "--raw", *reader, f"{reference}:{signatures['tagged'].tag}").stdout
    assert raw.encode() == signatures["tagged"].manifest
    skopeo(
        "copy",
        "--src-creds",
        creds("reader"),
        "--src-tls-verify=false",
        f"{reference}:{signatures['tagged'].tag}",
        f"dir:{tmp_path / 'out'}",
    )
    payload_digest = json.loads(signatures["tagged"].manifest)["layers"][0]["digest"]
    copied = (tmp_path / "out" / payload_digest.split(":")[1]).read_bytes()
    assert copied == signatures["tagged"].layers[0][0]
