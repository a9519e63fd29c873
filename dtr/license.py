"""DTR license files: their format, how they are verified and issued, and the status they give.

A license file is JSON `{"key_id", "private_key", "authorization"}`, as DTR's were:

- `authorization` is base64 (standard alphabet) of a compact JWS (ES256 or RS256) signed by
  the license key pair; DTR trusts its public key (config LICENSE_PUBLIC_KEY);
- the JWS payload is `{"expiration", "token", "maxEngines", "licenseType", "tier",
  "licensee"}`: `expiration` an RFC 3339 time, `maxEngines` the seats (`seats` is accepted
  in its place);
- `token` is base64url(HMAC-SHA256(key=base64url-decoded private_key, message=expiration in
  RFC 3339 form)), which binds the signed payload to the file's private key.

This module knows nothing of the database or Flask (see services/license.py for the stored
license); its clock is a parameter, so every state can be tested.
"""

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError, InvalidAlgorithmError, InvalidSignatureError

from . import strict_json
from .errors import InvalidInput

DEFAULT_PUBLIC_KEY_PATH = Path(__file__).parent / "license_public_key.pem"
TRIAL_DAYS = 30
WARN_DAYS = 14  # the banner shows from this many days before expiry
MAX_LICENSE_BYTES = 64 * 1024
FILE_FIELDS = ("key_id", "private_key", "authorization")
SETTINGS_PAGE = "Settings > License"


class LicenseError(InvalidInput):
    """A license file DTR refuses; `reason` is a stable code (also in `detail`)."""

    REASONS = (
        "too_large",
        "malformed_json",
        "missing_field",
        "invalid_field",
        "bad_base64",
        "malformed_authorization",
        "bad_signature",
        "bad_token",
        "expired",
    )

    def __init__(self, reason, message, field=None):
        assert reason in self.REASONS, reason
        detail = {"reason": reason} | ({"field": field} if field else {})
        super().__init__(f"{reason.replace('_', ' ')}: {message}", detail)
        self.reason = reason


class LicenseKeyError(Exception):
    """The trusted public key (LICENSE_PUBLIC_KEY) cannot be used."""


@dataclass(frozen=True)
class License:
    """A verified license."""

    key_id: str
    licensee: str
    tier: str
    license_type: str
    seats: int
    expires_at: datetime  # aware, UTC

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class LicenseStatus:
    """What the UI and the API show. `state` is one of STATES; the license fields are None
    on a trial and for an invalid stored license; `seats_allowed` None means unlimited."""

    state: str
    licensee: str | None
    tier: str | None
    license_type: str | None
    key_id: str | None
    seats_allowed: int | None
    seats_used: int
    expires_at: datetime | None  # aware, UTC; the trial's end on a trial
    days_left: int | None  # whole days left, rounded up; 0 once expired
    banner: str | None  # the warning every admin page shows, or None
    problem: str | None  # state "invalid": why the stored license no longer verifies


STATES = ("trial", "trial-expired", "valid", "expiring", "expired", "invalid")


# --- keys --------------------------------------------------------------------------------


def read_public_key_pem(value) -> str:
    """The PEM text of LICENSE_PUBLIC_KEY (a PEM string or a path to a PEM file), checked;
    raise LicenseKeyError saying what is wrong."""
    text = str(value or "").strip()
    if not text:
        raise LicenseKeyError("LICENSE_PUBLIC_KEY is empty: give a PEM public key or a path")
    if "-----BEGIN" not in text:
        path = Path(text).expanduser()
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise LicenseKeyError(f"LICENSE_PUBLIC_KEY: cannot read {path}: {error}") from None
    load_public_key(text)
    return text


@lru_cache(maxsize=8)
def load_public_key(pem: str):
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as error:
        raise LicenseKeyError(f"LICENSE_PUBLIC_KEY: not a PEM public key ({error})") from None
    _algorithm_of(key)
    return key


def _algorithm_of(key) -> str:
    """ES256 for an EC P-256 key, RS256 for an RSA key of 2048 bits or more."""
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if isinstance(key.curve, ec.SECP256R1):
            return "ES256"
    elif isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey) and key.key_size >= 2048:
        return "RS256"
    raise LicenseKeyError("a license key must be EC P-256 (ES256) or RSA of 2048+ bits (RS256)")


def generate_key_pair() -> tuple[bytes, bytes]:
    """A new license key pair (EC P-256) as (private PEM, public PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def load_private_key(pem: bytes):
    try:
        key = serialization.load_pem_private_key(pem, None)
    except (ValueError, TypeError) as error:
        raise LicenseKeyError(f"not an unencrypted PEM private key ({error})") from None
    _algorithm_of(key)
    return key


# --- the token ---------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339 form (whole seconds; Z for UTC), the token's message."""
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def license_token(expiration: str, private_key: str) -> str:
    """base64url(HMAC-SHA256(base64url-decoded private_key, expiration))."""
    return _b64url(_token_mac(expiration, _b64url_decode(private_key)))


def _token_mac(expiration: str, secret: bytes) -> bytes:
    return hmac.digest(secret, expiration.encode(), hashlib.sha256)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _b64url_decode(text: str) -> bytes:
    """Strict base64url; missing padding is tolerated. Raises binascii.Error."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


# --- issuing -----------------------------------------------------------------------------


def issue_license(
    private_key_pem: bytes,
    licensee: str,
    tier: str,
    license_type: str,
    seats: int,
    expires_at: datetime,
) -> dict:
    """A license file (as a dict) signed with a license private key."""
    key = load_private_key(private_key_pem)
    expiration = rfc3339(expires_at.astimezone(UTC))
    secret = _b64url(secrets.token_bytes(32))
    payload = {
        "expiration": expiration,
        "token": license_token(expiration, secret),
        "maxEngines": seats,
        "licenseType": license_type,
        "tier": tier,
        "licensee": licensee,
    }
    jws = PyJWS().encode(
        json.dumps(payload).encode(), key, algorithm=_algorithm_of(key), headers={"typ": "JOSE"}
    )
    authorization = base64.b64encode(jws.encode()).decode()
    return {"key_id": str(uuid.uuid4()), "private_key": secret, "authorization": authorization}


# --- verifying ---------------------------------------------------------------------------


def verify_license(text, public_key_pem: str, now: datetime, allow_expired=False) -> License:
    """The license in a file's text, verified against the trusted public key; raise
    LicenseError with the first reason found. `allow_expired`: for a stored license, whose
    expiry is a state rather than a refusal."""
    if isinstance(text, bytes):
        if len(text) > MAX_LICENSE_BYTES:
            raise LicenseError("too_large", f"a license file has at most {MAX_LICENSE_BYTES} bytes")
        try:
            text = text.decode()
        except UnicodeDecodeError:
            raise LicenseError("malformed_json", "the file is not UTF-8 text") from None
    if len(text) > MAX_LICENSE_BYTES:
        raise LicenseError("too_large", f"a license file has at most {MAX_LICENSE_BYTES} bytes")
    document = _json_object(text, "malformed_json", "the file is not a JSON object")
    key_id, private_key, authorization = (_text_field(document, name) for name in FILE_FIELDS)
    try:
        jws = base64.b64decode(authorization, validate=True).decode("ascii")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII text
        raise LicenseError("bad_base64", "authorization is not base64", "authorization") from None
    payload = _verified_payload(jws, public_key_pem)
    expiration = _moment(_text_field(payload, "expiration"))  # in its own zone, as Go keeps it
    try:
        secret = _b64url_decode(private_key)
    except ValueError:  # binascii.Error, and non-ASCII text
        raise LicenseError("bad_base64", "private_key is not base64url", "private_key") from None
    _check_token(_text_field(payload, "token"), rfc3339(expiration), secret)
    seats = payload["maxEngines"] if "maxEngines" in payload else payload.get("seats")
    if not isinstance(seats, int) or isinstance(seats, bool) or seats < 0:
        raise LicenseError("invalid_field", "maxEngines: a number of seats", "maxEngines")
    found = License(
        key_id=key_id,
        licensee=_text_field(payload, "licensee"),
        tier=_text_field(payload, "tier"),
        license_type=_text_field(payload, "licenseType"),
        seats=seats,
        expires_at=expiration.astimezone(UTC),
    )
    if found.expired(now) and not allow_expired:
        raise LicenseError("expired", f"the license expired on {rfc3339(expiration)}")
    return found


def _json_object(text, reason, message):
    try:
        value = strict_json.loads(text)
    except ValueError as error:
        raise LicenseError(reason, f"{message} ({error})") from None
    if not isinstance(value, dict):
        raise LicenseError(reason, message)
    return value


def _text_field(document: dict, name: str) -> str:
    if name not in document:
        raise LicenseError("missing_field", f"{name} is required", name)
    value = document[name]
    if not isinstance(value, str) or not value.strip():
        raise LicenseError("invalid_field", f"{name} must be a non-empty string", name)
    return value


def _check_token(token: str, expiration: str, secret: bytes):
    """The token binds the signed payload to this file's private_key, as DTR's did."""
    try:
        given = _b64url_decode(token)
    except binascii.Error:
        raise LicenseError("bad_token", "the token is not base64url") from None
    if not hmac.compare_digest(given, _token_mac(expiration, secret)):
        raise LicenseError(
            "bad_token", "the token does not match this file's private_key and expiration"
        )


def _verified_payload(jws: str, public_key_pem: str) -> dict:
    key = load_public_key(public_key_pem)
    try:
        payload = PyJWS().decode(jws, key, algorithms=[_algorithm_of(key)])
    except InvalidSignatureError:
        raise LicenseError(
            "bad_signature", "the license is not signed by the key DTR trusts"
        ) from None
    except InvalidAlgorithmError:
        raise LicenseError(
            "bad_signature", f"the license is not signed with {_algorithm_of(key)}"
        ) from None
    except DecodeError as error:
        raise LicenseError(
            "malformed_authorization", f"authorization is not a compact JWS ({error})"
        ) from None
    return _json_object(payload, "malformed_authorization", "the signed payload is not JSON")


def _moment(expiration: str) -> datetime:
    try:
        moment = datetime.fromisoformat(expiration)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise LicenseError(
            "invalid_field", "expiration must be an RFC 3339 time with a zone", "expiration"
        )
    return moment


# --- status ------------------------------------------------------------------------------


def days_left(expires_at: datetime, now: datetime) -> int:
    """Whole days until `expires_at`, rounded up (30 on the day a 30-day trial starts)."""
    return max(0, math.ceil((expires_at - now) / timedelta(days=1)))


def compute_status(
    installed: License | None,
    problem: str | None,
    trial_started_at: datetime,
    seats_used: int,
    now: datetime,
) -> LicenseStatus:
    """The status given the installed license (None: none, or `problem` says why the stored
    one does not verify), the trial's start and the seats in use, at `now`."""
    if problem is not None:
        banner = (
            f"The installed license is not valid ({problem}). DTR keeps working; upload a "
            f"new license in {SETTINGS_PAGE}."
        )
        return _status("invalid", banner, None, None, seats_used, now, problem)
    if installed is None:
        ends = trial_started_at + timedelta(days=TRIAL_DAYS)
        if now >= ends:
            state = "trial-expired"
            banner = (
                f"The DTR trial ended on {ends:%Y-%m-%d}. DTR keeps working; upload a "
                f"license in {SETTINGS_PAGE}."
            )
        elif ends - now <= timedelta(days=WARN_DAYS):
            state = "trial"
            banner = (
                f"The DTR trial ends in {_days(days_left(ends, now))} ({ends:%Y-%m-%d}). "
                f"Upload a license in {SETTINGS_PAGE}."
            )
        else:
            state, banner = "trial", None
        return _status(state, banner, None, ends, seats_used, now)
    ends = installed.expires_at
    if installed.expired(now):
        state = "expired"
        banner = (
            f"The DTR license of {installed.licensee} expired on {ends:%Y-%m-%d}. DTR keeps "
            f"working; upload a new license in {SETTINGS_PAGE}."
        )
    elif ends - now <= timedelta(days=WARN_DAYS):
        state = "expiring"
        banner = (
            f"The DTR license of {installed.licensee} expires in "
            f"{_days(days_left(ends, now))} ({ends:%Y-%m-%d}). Upload a new license in "
            f"{SETTINGS_PAGE}."
        )
    else:
        state, banner = "valid", None
    return _status(state, banner, installed, ends, seats_used, now)


def _status(state, banner, installed, ends, seats_used, now, problem=None) -> LicenseStatus:
    return LicenseStatus(
        state=state,
        licensee=installed and installed.licensee,
        tier=installed and installed.tier,
        license_type=installed and installed.license_type,
        key_id=installed and installed.key_id,
        seats_allowed=installed and installed.seats,
        seats_used=seats_used,
        expires_at=ends,
        days_left=None if ends is None else days_left(ends, now),
        banner=banner,
        problem=problem,
    )


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"
