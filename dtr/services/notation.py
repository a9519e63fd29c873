"""Verifying notation signatures (the Notary Project): their JWS envelope, with `cryptography`.

A notation signature is an OCI artifact (artifact type `application/vnd.cncf.notary.signature`)
attached to the signed manifest through `subject`; its one layer is the envelope. The JWS
envelope (`application/jose+json`) is a flattened JWS JSON serialization:
`{"payload", "protected", "header": {"x5c": [leaf, ..., root]}, "signature"}`, base64url
parts; the payload is `{"targetArtifact": <descriptor of the signed manifest>}`, the protected
header says `alg`, `cty`, the signing scheme and time, and `crit`. The signature is over
`protected + "." + payload` with the leaf certificate's key.

A signature counts when its envelope is sound (`read_envelope`: payload names the subject,
signature verifies, every certificate of `x5c` issued by the next, all valid at the signing
time) and its chain leads to a trusted certificate (`anchor_of`). COSE envelopes are listed,
not verified. The signing time is the signer's claim (scheme `notary.x509`; timestamp
countersignatures and the `notary.x509.signingAuthority` scheme are not supported).
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .. import strict_json

JWS_MEDIA_TYPE = "application/jose+json"
COSE_MEDIA_TYPE = "application/cose"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
SIGNING_SCHEME = "notary.x509"
SCHEME_HEADER = "io.cncf.notary.signingScheme"
TIME_HEADER = "io.cncf.notary.signingTime"
EXPIRY_HEADER = "io.cncf.notary.expiry"
UNDERSTOOD_CRITICAL = {SCHEME_HEADER, EXPIRY_HEADER}
MAX_CHAIN = 10

# alg -> (hash, the leaf key's curve for ECDSA, None for RSA-PSS)
_ALGORITHMS = {
    "PS256": (hashes.SHA256, None),
    "PS384": (hashes.SHA384, None),
    "PS512": (hashes.SHA512, None),
    "ES256": (hashes.SHA256, "secp256r1"),
    "ES384": (hashes.SHA384, "secp384r1"),
    "ES512": (hashes.SHA512, "secp521r1"),
}


class EnvelopeInvalid(ValueError):
    """The envelope cannot count, whatever the trusted certificates; the message says why."""


@dataclass(frozen=True)
class Envelope:
    chain: tuple[x509.Certificate, ...]  # leaf first, each issued by the next
    signing_time: datetime

    @property
    def signer(self) -> str | None:
        """The leaf certificate's subject common name."""
        names = self.chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        value = names[0].value if names else None
        return value if isinstance(value, str) else None


def verify_notation_envelope(
    envelope_bytes: bytes, media_type: str, subject_digest: str | None, trusted_certificates
) -> tuple[bool, str | None, str | None]:
    """(verified, signer, problem) of an envelope signing `subject_digest`, trusted when its
    certificate chain leads to one of `trusted_certificates` (x509.Certificate)."""
    try:
        envelope = read_envelope(envelope_bytes, media_type, subject_digest)
    except EnvelopeInvalid as error:
        return False, None, str(error)
    if anchor_of(envelope.chain, trusted_certificates) is None:
        return False, envelope.signer, "its certificate chain leads to no trusted certificate"
    return True, envelope.signer, None


def read_envelope(envelope_bytes: bytes, media_type: str, subject_digest: str | None) -> Envelope:
    """The envelope's certificate chain and signing time once everything but trust is
    checked; EnvelopeInvalid says what is wrong."""
    problem = envelope_type_problem(media_type)
    if problem:
        raise EnvelopeInvalid(problem)
    try:
        document = strict_json.loads(envelope_bytes)
    except (ValueError, UnicodeDecodeError):
        raise EnvelopeInvalid("the JWS envelope is not JSON") from None
    if not isinstance(document, dict) or not all(
        isinstance(document.get(field), str) for field in ("payload", "protected", "signature")
    ):
        raise EnvelopeInvalid("the JWS envelope lacks payload, protected or signature")
    header = _json_part(document["protected"], "protected header")
    payload = _json_part(document["payload"], "payload")
    hash_type, curve = _check_header(header)
    signing_time = _time(header.get(TIME_HEADER), TIME_HEADER)
    _check_target(payload, subject_digest)
    unprotected = document.get("header")
    chain = _chain(unprotected.get("x5c") if isinstance(unprotected, dict) else None)
    signed = f"{document['protected']}.{document['payload']}".encode("ascii", "replace")
    _check_signature(chain[0], hash_type, curve, signed, _base64url(document["signature"]))
    _check_leaf(chain[0])
    for certificate in chain:
        if not certificate.not_valid_before_utc <= signing_time <= certificate.not_valid_after_utc:
            raise EnvelopeInvalid(
                f"certificate {_name(certificate)} was not valid at the signing time "
                f"{signing_time.isoformat()}"
            )
    return Envelope(chain, signing_time)


def anchor_of(chain, trusted_certificates) -> int | None:
    """The index of the trusted certificate the chain leads to: one of the chain's, or the
    issuer (a CA) of its last; None when there is none."""
    for index, trusted in enumerate(trusted_certificates):
        if trusted in chain:
            return index
    last = chain[-1]
    for index, trusted in enumerate(trusted_certificates):
        if _is_ca(trusted) and _issued_by(last, trusted):
            return index
    return None


def envelope_type_problem(media_type) -> str | None:
    """Why envelopes of this media type are not verified; None for JWS."""
    if media_type == JWS_MEDIA_TYPE:
        return None
    if media_type == COSE_MEDIA_TYPE:
        return "notation COSE envelopes are listed, not verified, by DTR"
    return f"unknown notation envelope type {str(media_type)[:60]!r}"


def envelope_media_type(document: dict) -> str | None:
    """The media type of a notation signature manifest's envelope (its first layer)."""
    layers = document.get("layers")
    layer = layers[0] if isinstance(layers, list) and layers else None
    media_type = layer.get("mediaType") if isinstance(layer, dict) else None
    return media_type if isinstance(media_type, str) else None


# --- the parts ---------------------------------------------------------------------------------


def _base64url(text: str) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise EnvelopeInvalid("the JWS envelope has a part that is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise EnvelopeInvalid("the JWS envelope has a part that is not base64url") from None


def _json_part(text: str, what: str) -> dict:
    try:
        value = strict_json.loads(_base64url(text))
    except (ValueError, UnicodeDecodeError):
        raise EnvelopeInvalid(f"the JWS {what} is not JSON") from None
    if not isinstance(value, dict):
        raise EnvelopeInvalid(f"the JWS {what} is not a JSON object")
    return value


def _check_header(header: dict):
    algorithm = header.get("alg")
    if algorithm not in _ALGORITHMS:
        raise EnvelopeInvalid(f"unsupported JWS algorithm {str(algorithm)[:20]!r}")
    if header.get("cty") != PAYLOAD_TYPE:
        raise EnvelopeInvalid(f"the JWS content type is not {PAYLOAD_TYPE}")
    scheme = header.get(SCHEME_HEADER)
    if scheme != SIGNING_SCHEME:
        raise EnvelopeInvalid(
            f"signing scheme {str(scheme)[:40]!r} is not verified by DTR (only {SIGNING_SCHEME})"
        )
    critical = header.get("crit")
    if not isinstance(critical, list) or SCHEME_HEADER not in critical:
        raise EnvelopeInvalid(f"the JWS crit header must list {SCHEME_HEADER}")
    for name in critical:
        if name not in UNDERSTOOD_CRITICAL or name not in header:
            raise EnvelopeInvalid(f"unsupported critical header {str(name)[:60]!r}")
    if EXPIRY_HEADER in header:
        expiry = _time(header[EXPIRY_HEADER], EXPIRY_HEADER)
        if expiry <= datetime.now(UTC):
            raise EnvelopeInvalid(f"the signature expired at {expiry.isoformat()}")
    return _ALGORITHMS[algorithm]


def _time(value, what) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise EnvelopeInvalid(f"{what} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise EnvelopeInvalid(f"{what} has no time zone")
    return moment.astimezone(UTC)


def _check_target(payload: dict, subject_digest):
    target = payload.get("targetArtifact")
    digest = target.get("digest") if isinstance(target, dict) else None
    if not isinstance(digest, str):
        raise EnvelopeInvalid("the payload names no targetArtifact digest")
    if digest != subject_digest:
        raise EnvelopeInvalid(f"it signs {digest[:100]}, not its subject {subject_digest}")


def _chain(x5c) -> tuple[x509.Certificate, ...]:
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        raise EnvelopeInvalid("the JWS header has no x5c certificate chain")
    if len(x5c) > MAX_CHAIN:
        raise EnvelopeInvalid(f"the certificate chain is longer than {MAX_CHAIN}")
    try:
        chain = tuple(
            x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c
        )
    except (binascii.Error, ValueError):
        raise EnvelopeInvalid("x5c holds something that is not a base64 DER certificate") from None
    for certificate, issuer in pairwise(chain):
        if not _is_ca(issuer) or not _issued_by(certificate, issuer):
            raise EnvelopeInvalid(
                f"certificate {_name(certificate)} is not issued by the next of the chain"
            )
    return chain


def _check_signature(leaf, hash_type, curve, signed: bytes, signature: bytes):
    try:
        key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise EnvelopeInvalid("the signing certificate's key is not supported") from None
    if curve is None and not isinstance(key, rsa.RSAPublicKey):
        raise EnvelopeInvalid("the JWS algorithm does not match the certificate's key")
    if curve is not None and (
        not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve
    ):
        raise EnvelopeInvalid("the JWS algorithm does not match the certificate's key")
    try:
        if curve is None:
            pss = padding.PSS(mgf=padding.MGF1(hash_type()), salt_length=hash_type.digest_size)
            key.verify(signature, signed, pss, hash_type())
        else:
            size = (key.curve.key_size + 7) // 8  # JWS: r || s, each of the curve's size
            if len(signature) != 2 * size:
                raise InvalidSignature
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hash_type()))
    except (InvalidSignature, ValueError):
        raise EnvelopeInvalid("the signature does not verify with its certificate") from None


def _check_leaf(leaf):
    """A code signing certificate: may sign, is no CA, is for code signing if it says."""
    extensions = leaf.extensions
    try:
        if not extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            raise EnvelopeInvalid("the signing certificate may not sign (key usage)")
    except x509.ExtensionNotFound:
        pass
    if _is_ca(leaf):
        raise EnvelopeInvalid("the signing certificate is a CA certificate")
    try:
        usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if ExtendedKeyUsageOID.CODE_SIGNING not in usages:
        raise EnvelopeInvalid("the signing certificate is not for code signing")


def _is_ca(certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issued_by(certificate, issuer) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _name(certificate) -> str:
    return certificate.subject.rfc4514_string()[:100] or "(no subject)"
