"""TUF metadata as Notary writes it: `{"signed": {...}, "signatures": [...]}`.

Signatures cover the canonical JSON (OLPC form, Notary's `MarshalCanonical`) of `signed`.
Hashes in file metadata are base64 of the raw digest; `expires` is RFC 3339.
"""

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from securesystemslib.exceptions import FormatError
from securesystemslib.formats import encode_canonical

from .. import strict_json

ROOT, TARGETS, SNAPSHOT, TIMESTAMP = "root", "targets", "snapshot", "timestamp"
TOP_ROLES = (ROOT, TARGETS, SNAPSHOT, TIMESTAMP)
TYPES = {ROOT: "Root", TARGETS: "Targets", SNAPSHOT: "Snapshot", TIMESTAMP: "Timestamp"}
DELEGATION = re.compile(r"^targets(?:/[^/\s]+)+$")
MAX_METADATA_BYTES = 8 * 1024 * 1024


class MetadataInvalid(ValueError):
    """Metadata that cannot be accepted; the message says which role and why."""


def is_valid_role(role: str) -> bool:
    return role in TOP_ROLES or bool(DELEGATION.match(role))


def is_delegation(role: str) -> bool:
    return bool(DELEGATION.match(role))


def parent_role(role: str) -> str:
    return role.rsplit("/", 1)[0]


def role_type(role: str) -> str:
    """The `_type` a role's metadata must have (delegations are Targets)."""
    return TYPES[TARGETS] if is_delegation(role) else TYPES[role]


def canonical_json(value) -> bytes:
    try:
        return encode_canonical(value).encode()
    except FormatError as error:  # floats have no canonical form
        raise MetadataInvalid(f"not canonical JSON: {error}") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_meta(data: bytes) -> dict:
    """The snapshot/timestamp entry for a file: its length and hashes (as Notary writes)."""
    return {
        "hashes": {
            "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
            "sha512": base64.b64encode(hashlib.sha512(data).digest()).decode(),
        },
        "length": len(data),
    }


def file_meta_matches(entry, data: bytes) -> bool:
    """Does a snapshot/timestamp entry describe `data`? Every known hash given must match,
    and sha256 must be among them."""
    if not isinstance(entry, dict) or not isinstance(entry.get("hashes"), dict):
        return False
    if "length" in entry and entry["length"] != len(data):
        return False
    hashes = entry["hashes"]
    if "sha256" not in hashes:
        return False
    try:
        for name, function in (("sha256", hashlib.sha256), ("sha512", hashlib.sha512)):
            if name in hashes and _b64(hashes[name]) != function(data).digest():
                return False
    except ValueError:
        return False
    return True


def target_sha256_hex(target) -> str | None:
    """The hex sha256 of a targets entry (a tag's manifest digest), or None."""
    try:
        return _b64(target["hashes"]["sha256"]).hex()
    except (KeyError, TypeError, ValueError):
        return None


def _b64(value) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not base64")
    return base64.b64decode(value, validate=True)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment


@dataclass(frozen=True)
class Metadata:
    """One role's signed metadata, parsed and structurally checked (not yet verified)."""

    role: str
    data: bytes
    signed: dict
    signatures: tuple

    @property
    def version(self) -> int:
        return self.signed["version"]

    @property
    def expires(self) -> datetime:
        return parse_time(self.signed["expires"])

    @property
    def checksum(self) -> str:
        return sha256_hex(self.data)

    def expired(self, now: datetime) -> bool:
        return self.expires <= now

    def signed_bytes(self) -> bytes:
        """What the signatures sign."""
        return canonical_json(self.signed)


def parse_metadata(role: str, data: bytes) -> Metadata:
    """Parse `data` as `role`'s metadata; raise MetadataInvalid with the reason."""
    if not is_valid_role(role):
        raise MetadataInvalid(f"{role!r} is not a TUF role")
    if len(data) > MAX_METADATA_BYTES:
        raise MetadataInvalid(f"{role}: larger than {MAX_METADATA_BYTES} bytes")
    try:
        document = strict_json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise MetadataInvalid(f"{role}: not JSON") from None
    if not isinstance(document, dict):
        raise MetadataInvalid(f"{role}: not a JSON object")
    signed, signatures = document.get("signed"), document.get("signatures")
    if not isinstance(signed, dict) or not isinstance(signatures, list):
        raise MetadataInvalid(f"{role}: expected an object with 'signed' and 'signatures'")
    if signed.get("_type") != role_type(role):
        raise MetadataInvalid(f"{role}: _type must be {role_type(role)!r}")
    version = signed.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise MetadataInvalid(f"{role}: version must be a positive integer")
    try:
        parse_time(signed.get("expires"))
    except ValueError:
        raise MetadataInvalid(f"{role}: expires must be an RFC 3339 time") from None
    try:
        canonical_json(signed)
    except MetadataInvalid as error:
        raise MetadataInvalid(f"{role}: {error}") from None
    for signature in signatures:
        if not (
            isinstance(signature, dict)
            and all(isinstance(signature.get(k), str) for k in ("keyid", "method", "sig"))
        ):
            raise MetadataInvalid(f"{role}: each signature needs keyid, method and sig")
    return Metadata(role, bytes(data), signed, tuple(signatures))


def signed_document(signed: dict, signatures: list) -> bytes:
    """The bytes of metadata the server writes (compact JSON)."""
    return json.dumps({"signed": signed, "signatures": signatures}, separators=(",", ":")).encode()
