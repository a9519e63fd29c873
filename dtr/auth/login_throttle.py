"""Slows password guessing at the login form: after 5 failed logins of one name (or 20 from one
address, which may be a whole office behind NAT) within WINDOW seconds, further attempts are
refused until the window passes. Per process, in memory (DTR runs one process, many threads)."""

import threading
import time

WINDOW = 300
LIMITS = {"user": 5, "addr": 20}

_failures: dict[str, list[float]] = {}
_lock = threading.Lock()


def _keys(name, address):
    return (f"user:{name.lower()}", f"addr:{address}")


def seconds_blocked(name, address, now=None) -> int:
    """Seconds until another attempt is allowed (0: allowed now)."""
    now = time.monotonic() if now is None else now
    wait = 0.0
    with _lock:
        for key in _keys(name, address):
            recent = [t for t in _failures.get(key, []) if now - t < WINDOW]
            _failures[key] = recent
            limit = LIMITS[key.split(":", 1)[0]]
            if len(recent) >= limit:
                wait = max(wait, WINDOW - (now - recent[-limit]))
    return int(wait) + (1 if wait % 1 else 0)


def record_failure(name, address, now=None):
    now = time.monotonic() if now is None else now
    with _lock:
        for key in _keys(name, address):
            _failures.setdefault(key, []).append(now)


def record_success(name, address):
    with _lock:
        for key in _keys(name, address):
            _failures.pop(key, None)
