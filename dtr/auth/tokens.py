"""Registry bearer tokens (Docker token authentication): JWTs signed with the instance key.

The signing keys (ES256) live in the database, shared by every process and replica
(services/instance_keys.py): a token issued by one is accepted by all. `python app.py
rotate-token-key` adds a new signing key; the previous ones still verify the tokens they
signed until those expire. The key is picked by the token's `kid` header; each process
re-reads the keys every few seconds, and at once (at most once a second) on an unknown kid.

Access tokens carry the granted `access` list; refresh tokens (what `docker login` stores as
identity token) carry only the subject and are exchanged for access tokens at /auth/token.
Both carry `cred`, the reference of the credential they were issued for
(services/credentials.py): a token whose credential was revoked or changed is refused.
"""

import base64
import hashlib
import threading
import time
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization

ALGORITHM = "ES256"
ISSUER = "dtr-token-service"
# Seconds a process keeps the keys it read before reading them again (a rotation made
# elsewhere signs here after at most this long; verifying a new kid re-reads at once).
KEYS_REFRESH_SECONDS = 5.0
UNKNOWN_KID_REREAD_SECONDS = 1.0


class TokenInvalid(Exception):
    pass


@dataclass(frozen=True)
class _Key:
    kid: str
    private_key: object
    public_key: object


@dataclass(frozen=True)
class _KeySet:
    signing: _Key
    by_kid: dict


class TokenKey:
    """The signing keys of the instance's tokens, read from the database (created there on
    first use: this instance's former token_key.pem, if it has one) and re-read every
    KEYS_REFRESH_SECONDS. Used within an application context."""

    def __init__(self, instance_dir, keep_retired_seconds=30 * 24 * 3600):
        self.instance_dir = str(instance_dir)
        # how long a retired key still verifies: the lifetime of the longest-lived token
        self.keep_retired_seconds = keep_retired_seconds
        self._keys: _KeySet | None = None
        self._read_at = 0.0
        self._forced_at = 0.0
        self._parsed: dict = {}  # PEM -> _Key: parsing a key costs
        self._read_lock = threading.Lock()
        self._verified: dict = {}
        self._lock = threading.Lock()

    def _key_set(self, reread=False) -> _KeySet:
        now = time.monotonic()
        if not reread and self._keys is not None and now - self._read_at < KEYS_REFRESH_SECONDS:
            return self._keys
        with self._read_lock:
            if reread:
                if now - self._forced_at < UNKNOWN_KID_REREAD_SECONDS:
                    return self._keys
                self._forced_at = now
            elif self._keys is not None and now - self._read_at < KEYS_REFRESH_SECONDS:
                return self._keys
            from ..services.instance_keys import token_keys

            keys = [
                self._parse(row.pem)
                for row in token_keys(self.instance_dir, self.keep_retired_seconds)
            ]
            self._keys = _KeySet(keys[0], {key.kid: key for key in keys})
            self._read_at = time.monotonic()
            return self._keys

    def _parse(self, pem: str) -> _Key:
        key = self._parsed.get(pem)
        if key is None:
            private_key = serialization.load_pem_private_key(pem.encode(), None)
            public_key = private_key.public_key()
            key = _Key(_libtrust_key_id(public_key), private_key, public_key)
            self._parsed[pem] = key
        return key

    @property
    def private_key(self):
        """The key that signs now."""
        return self._key_set().signing.private_key

    @property
    def public_key(self):
        return self._key_set().signing.public_key

    @property
    def kid(self) -> str:
        """The key id (docker/libtrust format) of the key that signs now."""
        return self._key_set().signing.kid

    def _verifying_keys(self, token) -> list:
        """The keys that may have signed `token`: the one its `kid` names (re-read from the
        database when unknown here: a key made by another process), or, without a kid, all."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as error:
            raise TokenInvalid(str(error)) from error
        keys = self._key_set()
        if kid is None:
            return [keys.signing, *(k for k in keys.by_kid.values() if k is not keys.signing)]
        if not isinstance(kid, str):
            raise TokenInvalid("the token's kid is not a string")
        if kid not in keys.by_kid:
            keys = self._key_set(reread=True)
        if kid not in keys.by_kid:
            raise TokenInvalid("the token was signed by an unknown key")
        return [keys.by_kid[kid]]

    def sign(self, claims):
        key = self._key_set().signing
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def issue_access_token(self, subject, audience, access, lifetime, credential=None):
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject or "",
            "aud": audience,
            "exp": now + lifetime,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        if credential:
            claims["cred"] = credential
        return self.sign(claims), claims

    def issue_refresh_token(self, subject, audience, lifetime, credential):
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": audience,
            "exp": now + lifetime,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "typ": "refresh",
            "cred": credential,
        }
        return self.sign(claims)

    def verify(self, token, audience, refresh=False):
        """The claims of a valid token of the wanted kind; raise TokenInvalid otherwise.

        Verified access tokens are remembered until they expire: the same token comes with
        every request of a push or pull.
        """
        now = time.time()
        with self._lock:
            hit = self._verified.get(token)
        if hit is not None and hit["exp"] > now and not refresh:
            return hit
        keys = self._verifying_keys(token)
        for key in keys:
            try:
                claims = jwt.decode(
                    token,
                    key.public_key,
                    algorithms=[ALGORITHM],
                    audience=audience,
                    issuer=ISSUER,
                    options={"require": ["exp", "iat", "aud", "iss", "sub"]},
                    leeway=1,
                )
                break
            except jwt.InvalidSignatureError as error:
                if key is keys[-1]:
                    raise TokenInvalid(str(error)) from error
            except jwt.PyJWTError as error:
                raise TokenInvalid(str(error)) from error
        if (claims.get("typ") == "refresh") != refresh:
            raise TokenInvalid("wrong kind of token")
        if not refresh:
            with self._lock:
                if len(self._verified) > 20000:
                    self._verified.clear()
                self._verified[token] = claims
        return claims


def _libtrust_key_id(public_key):
    """The key id format of docker/libtrust: base32 of a truncated SHA-256 of the key."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(text[i : i + 4] for i in range(0, 48, 4))


def parse_scope(scope):
    """`repository:ns/name:pull,push` -> (type, name, [actions]); None when malformed."""
    try:
        kind, rest = scope.split(":", 1)
        name, actions = rest.rsplit(":", 1)
    except ValueError:
        return None
    return kind, name, [a for a in actions.split(",") if a]


def granted_actions(claims, kind, name):
    """Actions the token's `access` claim grants on one resource."""
    for entry in claims.get("access") or ():
        if entry.get("type") == kind and entry.get("name") == name:
            return set(entry.get("actions") or ())
    return set()
