"""Password hashing (argon2), bounded, and a short-lived cache of successful checks.

argon2 is slow and memory-hard on purpose (64 MiB per check), so the number of checks that
run at once is bounded (`HashingSlots`): about one per core, a few more callers may wait
briefly for a slot, anyone beyond that is refused at once with TooManyRequests. A flood of
bad logins then costs a fixed amount of memory, runs at the lowest CPU priority and leaves
request threads free for requests with tokens, which never hash.

A `docker push` of many layers authenticates many times, so a successful (name, password)
check is remembered for CREDENTIAL_CACHE_SECONDS. The cache key is a keyed hash of the
password, never the password itself.
"""

import concurrent.futures
import hashlib
import hmac
import os
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import TooManyRequests

_hasher = PasswordHasher()
_cache: dict = {}
_lock = threading.Lock()
_cache_key_secret = hashlib.sha256(str(time.time_ns()).encode()).digest()


class HashingSlots:
    """At most `slots` hashes at once, each in a thread of its own pool that runs at the
    lowest CPU priority (argon2's lane threads inherit it), so hashing uses idle CPU and never
    slows requests with tokens. At most `queue` more callers wait up to `wait` seconds for a
    hash to start; the rest are refused at once."""

    def __init__(self, slots: int, queue: int, wait: float):
        self._executor = None
        self.configure(slots, queue, wait)

    def configure(self, slots: int, queue: int, wait: float):
        self.slots, self.queue, self.wait = max(1, slots), max(0, queue), wait
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            self.slots, thread_name_prefix="dtr-password-hash", initializer=_lowest_priority
        )
        self._admitted = 0  # hashing or waiting
        self._lock = threading.Lock()

    def refuse_when_full(self):
        """Raise TooManyRequests now if a check could not even wait (before any other work
        of a request that will need one)."""
        if self._admitted >= self.slots + self.queue:
            raise _busy()

    def run(self, function, *args):
        """`function(*args)` in a hashing thread; raises TooManyRequests when busy."""
        with self._lock:
            if self._admitted >= self.slots + self.queue:
                raise _busy()
            self._admitted += 1
        try:
            future = self._executor.submit(function, *args)
            try:
                return future.result(timeout=self.wait)
            except concurrent.futures.TimeoutError:
                if future.cancel():  # it never started
                    raise _busy() from None
                return future.result()  # it started: its answer comes soon
        finally:
            with self._lock:
                self._admitted -= 1


def _lowest_priority():
    """Nice 19 for the calling thread (Linux: a thread's own priority), where allowed."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def _busy():
    return TooManyRequests("too many password checks at once: try again in a second", 1)


slots = HashingSlots(os.cpu_count() or 2, 2 * (os.cpu_count() or 2), 2.0)


def hash_password(password: str) -> str:
    return slots.run(_hasher.hash, password)


_DUMMY_HASH = _hasher.hash("a password no account has")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password. Without a hash (unknown user) the same work is done against a
    dummy hash, so that timing does not tell which user names exist. Raises
    TooManyRequests when every hashing slot is taken."""
    matched = slots.run(_verify, password_hash or _DUMMY_HASH, password)
    return matched and password_hash is not None


def _verify(password_hash, password) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


MAX_FOLLOWERS = 64
_in_flight: dict = {}  # (name, keyed hash) -> Future of the check running for it
_followers = 0


def check_once(name, password, check):
    """`check()` for a (name, password), run once for all the requests that bring the same
    pair at the same time: sixteen parallel pushes of one CI job cost one argon2 check, and
    its answer (or its error) goes to each of them."""
    global _followers
    key = _key(name, password)
    with _lock:
        running = _in_flight.get(key)
        if running is None:
            running = _in_flight[key] = concurrent.futures.Future()
            leader = True
        elif _followers >= MAX_FOLLOWERS:
            raise _busy()
        else:
            _followers += 1
            leader = False
    if not leader:
        try:
            return running.result()
        finally:
            with _lock:
                _followers -= 1
    try:
        result = check()
    except BaseException as error:
        running.set_exception(error)
        raise
    else:
        running.set_result(result)
        return result
    finally:
        with _lock:
            _in_flight.pop(key, None)


def refuse_when_busy(name, password):
    """Raise TooManyRequests now when this check would need a hashing slot and none could
    even be waited for (before any other work of the request)."""
    key = _key(name, password)
    with _lock:
        hit = _cache.get(key)
        if (hit and hit[1] > time.monotonic()) or key in _in_flight:
            return
    slots.refuse_when_full()


def _key(name, password):
    secret = password.encode("utf-8", "surrogatepass")
    return name, hmac.new(_cache_key_secret, secret, "sha256").digest()


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
