"""TUF keys and signatures as Notary uses them.

Keys are JSON objects `{"keytype", "keyval": {"private": null, "public": base64}}`:
"ecdsa" holds a DER SubjectPublicKeyInfo, "ecdsa-x509" a PEM certificate (root keys, whose
common name is the GUN). A key's id is the sha256 of that object's canonical JSON.
Signature method "ecdsa": ECDSA over the SHA-256 of the message, encoded as raw r||s.

The server's own keys (timestamp, snapshot) are P-256 keys stored encrypted (AES-GCM, key
derived with HKDF from a configured secret).
"""

import base64
import binascii
import os
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from .metadata import canonical_json, sha256_hex

ECDSA, ECDSA_X509 = "ecdsa", "ecdsa-x509"
SIGNATURE_METHOD = "ecdsa"


class KeyInvalid(ValueError):
    pass


def key_object(keytype: str, public: bytes) -> dict:
    return {
        "keytype": keytype,
        "keyval": {"private": None, "public": base64.b64encode(public).decode()},
    }


def key_id(obj: dict) -> str:
    """The TUF key id of a public key object."""
    return sha256_hex(canonical_json(key_object(obj["keytype"], _public_bytes(obj))))


def _public_bytes(obj) -> bytes:
    try:
        return base64.b64decode(obj["keyval"]["public"], validate=True)
    except (KeyError, TypeError, binascii.Error):
        raise KeyInvalid("keyval.public must be base64") from None


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    keytype: str
    key: ec.EllipticCurvePublicKey
    certificate: x509.Certificate | None = None

    def verifies(self, signature: dict, message: bytes) -> bool:
        """Does `signature` (a TUF signature object) sign `message` with this key?"""
        if signature.get("method") != SIGNATURE_METHOD:
            return False
        try:
            raw = base64.b64decode(signature["sig"], validate=True)
        except (binascii.Error, ValueError):
            return False
        size = (self.key.curve.key_size + 7) // 8
        if len(raw) != 2 * size:
            return False
        der = encode_dss_signature(
            int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
        )
        digest = hashes.Hash(hashes.SHA256())
        digest.update(message)
        try:
            self.key.verify(der, digest.finalize(), ec.ECDSA(Prehashed(hashes.SHA256())))
        except InvalidSignature:
            return False
        return True

    def certificate_problem(self, gun: str, now: datetime) -> str | None:
        """Why this key cannot be a root key of `gun` (None when it can): root keys are
        certificates whose common name is the GUN, valid now."""
        if self.certificate is None:
            return "root keys must be X.509 certificates (ecdsa-x509)"
        names = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = names[0].value if names else None
        if common_name != gun:
            return f"the root certificate is for {common_name!r}, not for {gun!r}"
        if not (
            self.certificate.not_valid_before_utc <= now <= self.certificate.not_valid_after_utc
        ):
            return "the root certificate is not valid now"
        return None


def load_public_key(obj, expected_id: str | None = None) -> PublicKey:
    """A PublicKey from its TUF object; raise KeyInvalid when it is not one we can use."""
    if not isinstance(obj, dict) or not isinstance(obj.get("keyval"), dict):
        raise KeyInvalid("a key must be an object with keytype and keyval")
    keytype = obj.get("keytype")
    public = _public_bytes(obj)
    certificate = None
    try:
        if keytype == ECDSA:
            key = serialization.load_der_public_key(public)
        elif keytype == ECDSA_X509:
            certificate = x509.load_pem_x509_certificate(public)
            key = certificate.public_key()
        else:
            raise KeyInvalid(f"unsupported key type {keytype!r} (ecdsa and ecdsa-x509 are)")
    except ValueError as error:
        if isinstance(error, KeyInvalid):
            raise
        raise KeyInvalid(f"cannot read the {keytype} key: {error}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyInvalid(f"a {keytype} key must hold an elliptic-curve public key")
    identifier = key_id(obj)
    if expected_id is not None and expected_id != identifier:
        raise KeyInvalid(f"key id {expected_id} does not match its key ({identifier})")
    return PublicKey(identifier, keytype, key, certificate)


class ServerKey:
    """A P-256 key pair the server signs metadata with."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey):
        self.private_key = private_key
        der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_object = key_object(ECDSA, der)
        self.key_id = key_id(self.public_object)

    @classmethod
    def generate(cls) -> "ServerKey":
        return cls(ec.generate_private_key(ec.SECP256R1()))

    def sign(self, message: bytes) -> dict:
        """A TUF signature object over `message`."""
        der = self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return {
            "keyid": self.key_id,
            "method": SIGNATURE_METHOD,
            "sig": base64.b64encode(raw).decode(),
        }

    def seal(self, secret: str, context: str) -> bytes:
        """The private key encrypted for storage; `context` (what it signs for) is bound in."""
        der = self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        nonce = os.urandom(12)
        return nonce + AESGCM(_sealing_key(secret)).encrypt(nonce, der, context.encode())

    @classmethod
    def unseal(cls, sealed: bytes, secret: str, context: str) -> "ServerKey":
        try:
            der = AESGCM(_sealing_key(secret)).decrypt(sealed[:12], sealed[12:], context.encode())
        except InvalidTag:
            raise KeyInvalid(
                "cannot decrypt a trust signing key: was the trust key secret changed?"
            ) from None
        return cls(serialization.load_der_private_key(der, None))


def _sealing_key(secret: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"dtr content trust keys").derive(
        secret.encode()
    )
