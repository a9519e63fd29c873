"""Real notation-format signatures (JWS envelopes, as notation writes them), made by the tests
with their own certificate authority: a root CA, a leaf code signing certificate it issues,
and the flattened JWS JSON serialization over the payload `{"targetArtifact": descriptor}`."""

import base64
import datetime
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .images import OCI_MANIFEST

JWS_MEDIA_TYPE = "application/jose+json"
COSE_MEDIA_TYPE = "application/cose"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
DAY = datetime.timedelta(days=1)


def now():
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate(key, common_name, issuer=None, ca=False, not_before=None, not_after=None):
    """A certificate for `key`'s public key, issued by `issuer` ((key, certificate)) or
    self-signed; a CA, or a code signing leaf."""
    issuer_key, issuer_cert = issuer or (key, None)
    start = not_before or now() - DAY
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after or start + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = dict(digital_signature=False, key_cert_sign=True, crl_sign=True)
    else:
        usage = dict(digital_signature=True, key_cert_sign=False, crl_sign=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    builder = builder.add_extension(
        x509.KeyUsage(
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            encipher_only=False,
            decipher_only=False,
            **usage,
        ),
        critical=True,
    )
    return builder.sign(issuer_key, hashes.SHA256())


def pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(key, data: bytes, alg: str) -> bytes:
    hash_type = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[alg[2:]]
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hash_type()), salt_length=hash_type.digest_size)
        return key.sign(data, pss, hash_type())
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_type())))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def envelope(key, chain, digest, alg="ES256", signing_time=None, size=100, tamper=None) -> bytes:
    """A notation JWS envelope signing the manifest `digest` with `key` (the leaf of `chain`,
    leaf first); `tamper(document)` may change the envelope after it is signed."""
    payload = {"targetArtifact": {"mediaType": OCI_MANIFEST, "digest": digest, "size": size}}
    header = {
        "alg": alg,
        "crit": ["io.cncf.notary.signingScheme"],
        "cty": PAYLOAD_TYPE,
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": (signing_time or now()).isoformat().replace("+00:00", "Z"),
    }
    protected = _b64url(json.dumps(header, separators=(",", ":")).encode())
    encoded = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    signature = _sign(key, f"{protected}.{encoded}".encode(), alg)
    document = {
        "payload": encoded,
        "protected": protected,
        "header": {
            "x5c": [
                base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain
            ],
            "io.cncf.notary.signingAgent": "notation-go/1.3.0",
        },
        "signature": _b64url(signature),
    }
    if tamper:
        tamper(document)
    return json.dumps(document, separators=(",", ":")).encode()


class Authority:
    """A test root CA and a leaf it issues (ECDSA P-256, or RSA 3072 for PS256)."""

    def __init__(self, name="test-root", signer="build-bot", rsa_leaf=False):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = certificate(self.key, name, ca=True)
        if rsa_leaf:
            self.leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        else:
            self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = certificate(self.leaf_key, signer, issuer=(self.key, self.cert))

    @property
    def chain(self):
        return [self.leaf, self.cert]

    def sign(self, digest, **options) -> bytes:
        alg = "PS256" if isinstance(self.leaf_key, rsa.RSAPrivateKey) else "ES256"
        return envelope(self.leaf_key, self.chain, digest, alg=alg, **options)
