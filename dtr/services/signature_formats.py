"""What signatures stored as OCI artifacts look like, and checking them (no database here).

- cosign, key pair: an OCI manifest whose layers are simple-signing payloads
  (`application/vnd.dev.cosign.simplesigning.v1+json`), each with its base64 signature in the
  layer annotation `dev.cosignproject.cosign/signature`. It is attached to the image through
  the referrers API (`subject`, artifact type `application/vnd.dev.cosign.artifact.sig.v1+json`)
  or, the older scheme, tagged `sha256-<hex>.sig`. The payload names the signed manifest:
  `{"critical": {"identity": {"docker-reference"}, "image": {"docker-manifest-digest"},
  "type": "cosign container image signature"}, "optional": ...}`. The signature is over the
  payload's bytes: ECDSA with SHA-256 (P-256; P-384 with SHA-384, P-521 with SHA-512), RSA
  PKCS#1 v1.5 with SHA-256, or Ed25519.
- notation: artifact type `application/vnd.cncf.notary.signature`, a JWS or COSE envelope
  layer; recognised here, verified (JWS envelopes) by `services/notation.py`.
- sigstore bundles (`application/vnd.dev.sigstore.bundle...`): recognised, not verified.
"""

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from .. import strict_json
from ..names import DIGEST
from .manifest_parsing import INDEX_TYPES

COSIGN_SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_PAYLOAD_TYPE = "cosign container image signature"
NOTATION_TYPE = "application/vnd.cncf.notary.signature"
SIGSTORE_BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
# the older cosign scheme: artifacts tagged after their subject's digest
TAG_SUFFIXES = {"sig": "signature", "att": "attestation", "sbom": "sbom"}
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_KEY_PEM_BYTES = 16 * 1024

SBOM_TYPES = ("spdx", "cyclonedx", "sbom", "syft")
ATTESTATION_TYPES = ("in-toto", "dsse", "attestation", "provenance", "cosign.artifact.att")
FILESYSTEM_LAYER_MARKERS = ("image.layer.", "image.rootfs.")

_EC_HASHES = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384, "secp521r1": hashes.SHA512}
_EC_NAMES = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}
MIN_RSA_BITS = 2048


class KeyInvalid(ValueError):
    """A trusted key's PEM is refused; the message says why."""


@dataclass(frozen=True)
class PublicKey:
    key: object  # a cryptography public key
    algorithm: str  # ecdsa-p256, rsa-3072, ed25519...
    fingerprint: str  # sha256:<hex> of the DER SubjectPublicKeyInfo
    is_certificate: bool


@dataclass(frozen=True)
class FoundSignature:
    """A signature in an artifact, before its payload is read: `payload_digest` is the blob
    to read (the simple-signing payload or the envelope)."""

    position: int
    kind: str  # cosign, notation, sigstore
    payload_digest: str | None
    payload_size: int
    signature: str | None  # base64, cosign only
    problem: str | None = None


# --- trusted keys --------------------------------------------------------------------------


def load_public_key(pem: str) -> PublicKey:
    """A PEM public key (or certificate, whose key is used); KeyInvalid says why not."""
    if not isinstance(pem, str) or not pem.strip():
        raise KeyInvalid("pem: a PEM public key is required")
    if len(pem) > MAX_KEY_PEM_BYTES:
        raise KeyInvalid(f"pem: larger than {MAX_KEY_PEM_BYTES} bytes")
    data = pem.strip().encode()
    is_certificate = b"-----BEGIN CERTIFICATE-----" in data
    if b"PRIVATE KEY-----" in data:
        raise KeyInvalid("pem: this is a private key; give the public key only")
    try:
        if is_certificate:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise KeyInvalid(f"pem: not a PEM public key or certificate ({error})") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC_NAMES:
            raise KeyInvalid(f"pem: unsupported elliptic curve {key.curve.name}")
        algorithm = _EC_NAMES[key.curve.name]
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyInvalid(f"pem: RSA keys need at least {MIN_RSA_BITS} bits")
        algorithm = f"rsa-{key.key_size}"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        algorithm = "ed25519"
    else:
        raise KeyInvalid("pem: only ECDSA (P-256, P-384, P-521), RSA and Ed25519 keys")
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PublicKey(key, algorithm, "sha256:" + hashlib.sha256(der).hexdigest(), is_certificate)


def verify_signature(public_key, payload: bytes, signature_b64: str) -> bool:
    """Does the base64 `signature` over `payload` verify with the key (cosign's schemes)?"""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            algorithm = _EC_HASHES[public_key.curve.name]()
            public_key.verify(signature, payload, ec.ECDSA(algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, payload)
        else:
            return False
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True


# --- artifacts -----------------------------------------------------------------------------


def cosign_signed_digest(payload: bytes) -> str:
    """The manifest digest a simple-signing payload names; ValueError says what is wrong."""
    try:
        document = strict_json.loads(payload)
        critical = document["critical"]
        kind = critical["type"]
        digest = critical["image"]["docker-manifest-digest"]
    except (ValueError, UnicodeDecodeError, TypeError, KeyError):
        raise ValueError("not a simple-signing payload") from None
    if kind != COSIGN_PAYLOAD_TYPE:
        raise ValueError(f"payload type {str(kind)[:60]!r} is not a cosign image signature")
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise ValueError("payload's docker-manifest-digest is not a digest")
    return digest


def artifact_type_of(document: dict) -> str | None:
    """artifactType, else the config's media type (OCI 1.1 rules)."""
    artifact_type = document.get("artifactType")
    if isinstance(artifact_type, str):
        return artifact_type
    config = document.get("config")
    media = config.get("mediaType") if isinstance(config, dict) else None
    return media if isinstance(media, str) else None


def find_signatures(document) -> list[FoundSignature]:
    """The signatures a manifest document carries (none for images and other artifacts)."""
    if not isinstance(document, dict):
        return []
    artifact_type = artifact_type_of(document) or ""
    layers = document.get("layers")
    layers = (
        [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []
    )
    if artifact_type == NOTATION_TYPE:
        return [_envelope(layers, "notation")]
    if artifact_type.startswith(SIGSTORE_BUNDLE_PREFIX):
        return [_envelope(layers, "sigstore")]
    found = []
    for position, layer in enumerate(layers):
        if layer.get("mediaType") != SIMPLE_SIGNING:
            continue
        annotations = layer.get("annotations")
        signature = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
        size = layer.get("size") if isinstance(layer.get("size"), int) else 0
        problem = None
        if not isinstance(signature, str) or not signature:
            signature, problem = None, f"no {SIGNATURE_ANNOTATION} annotation"
        elif size > MAX_PAYLOAD_BYTES:
            problem = f"payload larger than {MAX_PAYLOAD_BYTES} bytes"
        found.append(
            FoundSignature(position, "cosign", layer.get("digest"), size, signature, problem)
        )
    return found


def _envelope(layers, kind) -> FoundSignature:
    layer = layers[0] if layers else {}
    size = layer.get("size") if isinstance(layer.get("size"), int) else 0
    problem = f"{kind} signatures are listed, not verified, by DTR"
    return FoundSignature(0, kind, layer.get("digest"), size, None, problem)


def referrer_kind(artifact_type: str | None, tag_suffix: str | None = None) -> str:
    """signature, sbom, attestation or other, from an artifact type (or a cosign tag)."""
    if tag_suffix in TAG_SUFFIXES:
        return TAG_SUFFIXES[tag_suffix]
    kind = (artifact_type or "").lower()
    if kind in (COSIGN_SIGNATURE_TYPE, NOTATION_TYPE) or kind.startswith(SIGSTORE_BUNDLE_PREFIX):
        return "signature"
    if any(marker in kind for marker in SBOM_TYPES):
        return "sbom"
    if any(marker in kind for marker in ATTESTATION_TYPES):
        return "attestation"
    return "other"


def is_runnable(media_type: str, payload: bytes) -> bool:
    """An index, or an image with a filesystem layer: what the signed-only policy guards.
    Signatures, SBOMs, attestations and other artifacts are not runnable."""
    if media_type in INDEX_TYPES:
        return True
    try:
        document = strict_json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return True
    layers = document.get("layers") if isinstance(document, dict) else None
    if not isinstance(layers, list):
        return True
    return any(
        isinstance(layer, dict)
        and isinstance(layer.get("mediaType"), str)
        and any(marker in layer["mediaType"] for marker in FILESYSTEM_LAYER_MARKERS)
        for layer in layers
    )


def signature_tag(digest: str, suffix: str) -> str:
    """sha256:abc -> sha256-abc.sig (cosign's tag scheme)."""
    return digest.replace(":", "-", 1) + "." + suffix
