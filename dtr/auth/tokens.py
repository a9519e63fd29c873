"""Registry bearer tokens (Docker token authentication): JWTs signed with the instance key.

The key pair is generated into the instance on first start (ES256). Access tokens carry the
granted `access` list; refresh tokens (what `docker login` stores as identity token) carry
only the subject and are exchanged for access tokens at /auth/token. Both carry `cred`, the
reference of the credential they were issued for (services/credentials.py): a token whose
credential was revoked or changed is refused.
"""

import base64
import hashlib
import threading
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"
ISSUER = "dtr-token-service"


class TokenInvalid(Exception):
    pass


class TokenKey:
    """The signing key of an instance, loaded (or generated) once."""

    def __init__(self, instance_dir):
        path = Path(instance_dir) / "token_key.pem"
        if not path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(pem)
            tmp.chmod(0o600)
            tmp.replace(path)
        self.private_key = serialization.load_pem_private_key(path.read_bytes(), None)
        self.public_key = self.private_key.public_key()
        self.kid = _libtrust_key_id(self.public_key)
        self._verified: dict = {}
        self._lock = threading.Lock()

    def sign(self, claims):
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

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
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "aud", "iss", "sub"]},
                leeway=1,
            )
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
