"""A Notary client in miniature, for tests: its own keys (made with `cryptography`), a root
certificate for the GUN, and TUF metadata signed as Notary signs it (ECDSA P-256 over the
SHA-256 of the canonical JSON of `signed`, raw r||s, base64)."""

import base64
import datetime
import hashlib
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from securesystemslib.formats import encode_canonical


def when(days: float) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def key_id(public_object: dict) -> str:
    return hashlib.sha256(encode_canonical(public_object).encode()).hexdigest()


def file_meta(data: bytes) -> dict:
    digest = hashlib.sha256(data).digest()
    return {"hashes": {"sha256": base64.b64encode(digest).decode()}, "length": len(data)}


def target_of(manifest: bytes) -> dict:
    """A targets entry for a tag whose manifest is `manifest`."""
    return file_meta(manifest)


class Key:
    """An ECDSA P-256 key as Notary writes it; with `certificate_for`, an ecdsa-x509 key
    wrapping a self-signed certificate with that common name (a root key)."""

    def __init__(self, certificate_for=None, certificate_days=3650):
        self.private = ec.generate_private_key(ec.SECP256R1())
        if certificate_for is None:
            public = self.private.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            keytype = "ecdsa"
        else:
            public = self._certificate(certificate_for, certificate_days)
            keytype = "ecdsa-x509"
        self.public_object = {
            "keytype": keytype,
            "keyval": {"private": None, "public": base64.b64encode(public).decode()},
        }
        self.id = key_id(self.public_object)

    def _certificate(self, common_name, days):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(self.private, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: bytes) -> dict:
        r, s = decode_dss_signature(self.private.sign(message, ec.ECDSA(hashes.SHA256())))
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return {"keyid": self.id, "method": "ecdsa", "sig": base64.b64encode(raw).decode()}


class PublishedKey:
    """A public key only (the server's timestamp or snapshot key)."""

    def __init__(self, public_object: dict):
        self.public_object = public_object
        self.id = key_id(public_object)


def sign(signed: dict, keys) -> bytes:
    message = encode_canonical(signed).encode()
    document = {"signed": signed, "signatures": [key.sign(message) for key in keys]}
    return json.dumps(document, indent=1).encode()


class TrustClient:
    """Keys and metadata of one GUN. `timestamp_key`: the server's public key object;
    `snapshot_key`: the server's too (server-managed snapshot), or None for a snapshot key
    of the client's own."""

    def __init__(self, gun, timestamp_key: dict, snapshot_key: dict | None = None):
        self.gun = gun
        self.root_key = Key(certificate_for=gun)
        self.targets_key = Key()
        self.timestamp_key = PublishedKey(timestamp_key)
        self.snapshot_key = PublishedKey(snapshot_key) if snapshot_key else Key()

    def root(self, version=1, expires_days=3650, signers=None, root_keys=None, threshold=1):
        root_keys = root_keys or [self.root_key]
        keys = [*root_keys, self.targets_key, self.snapshot_key, self.timestamp_key]
        signed = {
            "_type": "Root",
            "consistent_snapshot": False,
            "expires": when(expires_days),
            "keys": {key.id: key.public_object for key in keys},
            "roles": {
                "root": {"keyids": [k.id for k in root_keys], "threshold": threshold},
                "targets": {"keyids": [self.targets_key.id], "threshold": 1},
                "snapshot": {"keyids": [self.snapshot_key.id], "threshold": 1},
                "timestamp": {"keyids": [self.timestamp_key.id], "threshold": 1},
            },
            "version": version,
        }
        return sign(signed, signers if signers is not None else root_keys)

    def targets(
        self, version=1, tags=None, delegations=None, expires_days=1095, signers=None, role=None
    ):
        """Targets metadata mapping tag -> manifest bytes; `delegations`: [(name, [keys],
        paths)]; `role` and `signers` for a delegation's own metadata."""
        signed = {
            "_type": "Targets",
            "delegations": {
                "keys": {k.id: k.public_object for _, keys, _ in delegations or () for k in keys},
                "roles": [
                    {"name": name, "keyids": [k.id for k in keys], "threshold": 1, "paths": paths}
                    for name, keys, paths in delegations or ()
                ],
            },
            "expires": when(expires_days),
            "targets": {tag: target_of(manifest) for tag, manifest in (tags or {}).items()},
            "version": version,
        }
        return sign(signed, signers if signers is not None else [self.targets_key])

    def snapshot(self, files: dict, version=1, expires_days=1095):
        """A client-signed snapshot of `files` (role -> bytes)."""
        signed = {
            "_type": "Snapshot",
            "expires": when(expires_days),
            "meta": {role: file_meta(data) for role, data in files.items()},
            "version": version,
        }
        return sign(signed, [self.snapshot_key])
