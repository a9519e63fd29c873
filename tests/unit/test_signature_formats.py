"""Signature formats without a server: trusted key parsing, cosign signature verification,
simple-signing payloads, what an artifact carries, and what the signed-only policy guards."""

import base64
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from dtr.services import signature_formats as formats
from tests.support.images import OCI_INDEX, OCI_MANIFEST, index_of, simple_image
from tests.support.signing import (
    NOTATION_TYPE,
    CosignSignature,
    artifact,
    ec_key,
    payload,
    public_pem,
    rsa_key,
    sign,
)

DIGEST = "sha256:" + "ab" * 32


def test_keys_of_each_supported_kind_load_with_their_algorithm():
    assert formats.load_public_key(public_pem(ec_key())).algorithm == "ecdsa-p256"
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert formats.load_public_key(public_pem(p384)).algorithm == "ecdsa-p384"
    assert formats.load_public_key(public_pem(rsa_key())).algorithm == "rsa-2048"
    edwards = ed25519.Ed25519PrivateKey.generate()
    loaded = formats.load_public_key(public_pem(edwards))
    assert loaded.algorithm == "ed25519" and not loaded.is_certificate
    assert loaded.fingerprint.startswith("sha256:") and len(loaded.fingerprint) == 71


def test_the_same_key_has_the_same_fingerprint_whatever_its_pem_spacing():
    pem = public_pem(ec_key())
    assert (
        formats.load_public_key(pem).fingerprint
        == formats.load_public_key("\n  " + pem + "\n\n").fingerprint
    )


def test_a_certificate_is_trusted_for_its_key():
    key = ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    loaded = formats.load_public_key(pem)
    assert loaded.is_certificate
    assert loaded.fingerprint == formats.load_public_key(public_pem(key)).fingerprint


@pytest.mark.parametrize(
    "pem, reason",
    [
        ("", "required"),
        ("hello", "not a PEM public key"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM public key"),
        (public_pem(rsa.generate_private_key(65537, 1024)), "at least 2048 bits"),
        (public_pem(ec.generate_private_key(ec.SECP224R1())), "unsupported elliptic curve"),
        ("x" * 20000, "larger than"),
    ],
)
def test_bad_keys_are_refused_with_the_reason(pem, reason):
    with pytest.raises(formats.KeyInvalid, match=reason):
        formats.load_public_key(pem)


def test_a_private_key_is_refused():
    private = ec_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(formats.KeyInvalid, match="private key"):
        formats.load_public_key(private.decode())


@pytest.mark.parametrize("make_key", [ec_key, rsa_key])
def test_cosign_signatures_verify_with_their_key_only(make_key):
    key, other = make_key(), make_key()
    data = payload("host/ns/repo", DIGEST)
    signature = sign(key, data)
    assert formats.verify_signature(key.public_key(), data, signature)
    assert not formats.verify_signature(other.public_key(), data, signature)
    assert not formats.verify_signature(key.public_key(), data + b" ", signature)
    assert not formats.verify_signature(key.public_key(), data, "not base64!")
    assert not formats.verify_signature(key.public_key(), data, "")


def test_ed25519_and_p384_signatures_verify():
    edwards = ed25519.Ed25519PrivateKey.generate()
    data = payload("r", DIGEST)
    assert formats.verify_signature(
        edwards.public_key(), data, base64.b64encode(edwards.sign(data)).decode()
    )
    p384 = ec.generate_private_key(ec.SECP384R1())
    raw = p384.sign(data, ec.ECDSA(hashes.SHA384()))
    assert formats.verify_signature(p384.public_key(), data, base64.b64encode(raw).decode())


def test_simple_signing_payloads_name_their_digest():
    assert formats.cosign_signed_digest(payload("host/ns/repo", DIGEST)) == DIGEST
    wrong_type = json.loads(payload("r", DIGEST))
    wrong_type["critical"]["type"] = "atomic container signature"
    with pytest.raises(ValueError, match="not a cosign image signature"):
        formats.cosign_signed_digest(json.dumps(wrong_type).encode())
    bad_digest = json.loads(payload("r", DIGEST))
    bad_digest["critical"]["image"]["docker-manifest-digest"] = "sha256:xyz"
    with pytest.raises(ValueError, match="not a digest"):
        formats.cosign_signed_digest(json.dumps(bad_digest).encode())
    for garbage in (b"", b"[]", b'{"critical": 1}', b"\xff"):
        with pytest.raises(ValueError, match="not a simple-signing payload"):
            formats.cosign_signed_digest(garbage)


def test_cosign_signature_manifests_carry_one_signature_per_layer():
    key = ec_key()
    signature = CosignSignature(DIGEST, 100, [(key, None), (key, DIGEST)], referrer=False)
    found = formats.find_signatures(json.loads(signature.manifest))
    assert [(f.position, f.kind, f.problem) for f in found] == [
        (0, "cosign", None),
        (1, "cosign", None),
    ]
    assert found[0].payload_digest == json.loads(signature.manifest)["layers"][0]["digest"]
    assert found[0].signature == signature.layers[0][1]

    document = json.loads(signature.manifest)
    del document["layers"][1]["annotations"]
    document["layers"][0]["size"] = formats.MAX_PAYLOAD_BYTES + 1
    found = formats.find_signatures(document)
    assert "larger than" in found[0].problem
    assert found[1].problem == f"no {formats.SIGNATURE_ANNOTATION} annotation"


def test_notation_signatures_are_recognised_and_not_verified():
    manifest, _ = artifact(DIGEST, 10, NOTATION_TYPE, b"{}", "application/jose+json")
    (found,) = formats.find_signatures(json.loads(manifest))
    assert found.kind == "notation" and "not verified" in found.problem


def test_images_and_other_artifacts_carry_no_signatures():
    assert formats.find_signatures(json.loads(simple_image("x").manifest)) == []
    sbom, _ = artifact(DIGEST, 10, "application/spdx+json", b"{}", "application/spdx+json")
    assert formats.find_signatures(json.loads(sbom)) == []
    assert formats.find_signatures([]) == []
    assert formats.find_signatures({"layers": "no"}) == []


@pytest.mark.parametrize(
    "artifact_type, suffix, kind",
    [
        (formats.COSIGN_SIGNATURE_TYPE, None, "signature"),
        (NOTATION_TYPE, None, "signature"),
        ("application/vnd.dev.sigstore.bundle.v0.3+json", None, "signature"),
        ("application/spdx+json", None, "sbom"),
        ("application/vnd.cyclonedx+json", None, "sbom"),
        ("application/vnd.in-toto+json", None, "attestation"),
        ("application/vnd.dsse.envelope.v1+json", None, "attestation"),
        ("application/vnd.oci.image.config.v1+json", "sig", "signature"),
        ("application/vnd.oci.image.config.v1+json", "att", "attestation"),
        ("application/vnd.oci.image.config.v1+json", "sbom", "sbom"),
        ("application/x-something", None, "other"),
        (None, None, "other"),
    ],
)
def test_referrer_kinds(artifact_type, suffix, kind):
    assert formats.referrer_kind(artifact_type, suffix) == kind


def test_what_the_policy_guards():
    image = simple_image("runnable")
    assert formats.is_runnable(OCI_MANIFEST, image.manifest)
    assert formats.is_runnable(OCI_INDEX, index_of([(image, "amd64")]))
    signature = CosignSignature(DIGEST, 10, [(ec_key(), None)])
    assert not formats.is_runnable(OCI_MANIFEST, signature.manifest)
    sbom, _ = artifact(DIGEST, 10, "application/spdx+json", b"{}", "application/spdx+json")
    assert not formats.is_runnable(OCI_MANIFEST, sbom)
    assert formats.is_runnable(OCI_MANIFEST, b"not json")


def test_signature_tags():
    assert formats.signature_tag(DIGEST, "sig") == "sha256-" + "ab" * 32 + ".sig"
