"""Real cosign-format signatures, made by the tests with their own keys (as cosign writes
them: the simple-signing payload as a layer, its base64 signature in the layer annotation;
attached through the referrers API or tagged sha256-<hex>.sig)."""

import base64
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from .images import OCI_CONFIG, OCI_MANIFEST, sha256

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
NOTATION_TYPE = "application/vnd.cncf.notary.signature"
EMPTY_CONFIG = b"{}"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def payload(reference: str, digest: str) -> bytes:
    """cosign's simple-signing payload (Go's json.Marshal: no spaces, fields in order)."""
    document = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def sign(private_key, data: bytes) -> str:
    if isinstance(private_key, rsa.RSAPrivateKey):
        raw = private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        raw = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(raw).decode()


class CosignSignature:
    """A signature manifest with one layer per (key, payload); `referrer=True`: cosign's
    OCI 1.1 form (subject, config media type = the signature artifact type), else the tag
    scheme's (an image config, tagged sha256-<hex>.sig)."""

    def __init__(self, subject_digest, subject_size, signers, referrer=True, reference="x/y"):
        self.subject_digest = subject_digest
        self.layers = []  # (payload bytes, signature)
        for private_key, signed_digest in signers:
            data = payload(reference, signed_digest or subject_digest)
            self.layers.append((data, sign(private_key, data)))
        self.config = json.dumps(
            {
                "architecture": "",
                "created": "0001-01-01T00:00:00Z",
                "history": [{"created": "0001-01-01T00:00:00Z"} for _ in self.layers],
                "os": "",
                "rootfs": {"type": "layers", "diff_ids": [sha256(d) for d, _ in self.layers]},
                "config": {},
            },
            separators=(",", ":"),
        ).encode()
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": COSIGN_SIGNATURE_TYPE if referrer else OCI_CONFIG,
                "size": len(self.config),
                "digest": sha256(self.config),
            },
            "layers": [
                {
                    "mediaType": SIMPLE_SIGNING,
                    "size": len(data),
                    "digest": sha256(data),
                    "annotations": {SIGNATURE_ANNOTATION: signature},
                }
                for data, signature in self.layers
            ],
        }
        if referrer:
            document["subject"] = {
                "mediaType": OCI_MANIFEST,
                "size": subject_size,
                "digest": subject_digest,
            }
        self.manifest = json.dumps(document, separators=(",", ":")).encode()
        self.referrer = referrer

    @property
    def digest(self):
        return sha256(self.manifest)

    @property
    def tag(self):
        return self.subject_digest.replace(":", "-") + ".sig"

    @property
    def blobs(self):
        return [self.config, *(data for data, _ in self.layers)]

    def push(self, client, repo):
        for blob in self.blobs:
            client.push_blob(repo, blob)
        reference = self.digest if self.referrer else self.tag
        response = client.push_manifest(repo, reference, self.manifest, OCI_MANIFEST)
        assert response.status_code == 201, response.text
        return response


def artifact(subject_digest, subject_size, artifact_type, content: bytes, layer_type):
    """(manifest, blobs) of an OCI 1.1 artifact attached to a subject (an SBOM, a notation
    signature...): empty config, one layer."""
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "size": 2, "digest": sha256(EMPTY_CONFIG)},
        "layers": [{"mediaType": layer_type, "size": len(content), "digest": sha256(content)}],
        "subject": {"mediaType": OCI_MANIFEST, "size": subject_size, "digest": subject_digest},
    }
    return json.dumps(document).encode(), [EMPTY_CONFIG, content]
