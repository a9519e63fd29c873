"""The secrets of access tokens and robot accounts: long random strings with a prefix that
says what they are (so secret scanners and people can tell), stored only as a keyed hash.

They are not passwords a person picks: 256 random bits cannot be guessed, so a fast keyed
hash (HMAC-SHA256 with a key derived from the instance secret) is enough, and a CI login
with one costs microseconds instead of an argon2 check.
"""

import hashlib
import hmac
import secrets

ACCESS_TOKEN_PREFIX = "dtr_pat_"
ROBOT_SECRET_PREFIX = "dtr_robot_"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    key = hashlib.sha256(b"dtr credential secrets\0" + _instance_secret()).digest()
    return hmac.new(key, secret.encode("utf-8", "surrogatepass"), "sha256").hexdigest()


def _instance_secret() -> bytes:
    from ..services.instance_keys import secret_key

    return str(secret_key()).encode()


def looks_like(secret: str, prefix: str) -> bool:
    return secret.startswith(prefix) and len(secret) < 200
