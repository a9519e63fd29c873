"""Password hashing (argon2) and a short-lived cache of successful checks.

A `docker push` of many layers authenticates many times; argon2 is slow on purpose, so a
successful (name, password) check is remembered for CREDENTIAL_CACHE_SECONDS. The cache key
is a keyed hash of the password, never the password itself.
"""

import hashlib
import hmac
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_cache: dict = {}
_lock = threading.Lock()
_cache_key_secret = hashlib.sha256(str(time.time_ns()).encode()).digest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


_DUMMY_HASH = _hasher.hash("a password no account has")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password. Without a hash (unknown user) the same work is done against a
    dummy hash, so that timing does not tell which user names exist."""
    try:
        matched = _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


def _key(name, password):
    return name, hmac.new(_cache_key_secret, password.encode(), "sha256").digest()


def cached_check(name, password):
    """The value remembered for a recent successful check, or None."""
    with _lock:
        hit = _cache.get(_key(name, password))
    if hit and hit[1] > time.monotonic():
        return hit[0]
    return None


def remember_check(name, password, value, seconds):
    with _lock:
        if len(_cache) > 10000:
            _cache.clear()
        _cache[_key(name, password)] = (value, time.monotonic() + seconds)


def forget_checks(name):
    """Drop remembered checks of a user (password or role changed, user deactivated)."""
    with _lock:
        for key in [k for k in _cache if k[0] == name]:
            del _cache[key]


def forget_all_checks():
    """Drop every remembered check (the auth mode or the LDAP settings changed)."""
    with _lock:
        _cache.clear()
