"""Admin settings stored in the database, so that changes apply without a restart.

Values are cached for a few seconds; a write clears the cache of this process, other
processes sharing the database see it when their cache expires.
"""

import json
import socket
import threading
import time

from ..database import db
from ..models import Setting

DEFAULTS = {
    "auth_mode": "none",  # none | managed | ldap
    "create_on_push": False,
    "domain_name": None,  # None: the host name
    "password_min_length": 12,  # services/credential_rules.py
    "token_max_lifetime_days": 365,
}
_CACHE_SECONDS = 5.0
_HOSTNAME = socket.gethostname()
_cache: dict = {}
_lock = threading.Lock()


def get_setting(key):
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit and hit[1] > now:
            return hit[0]
    row = db.session.get(Setting, key)
    value = json.loads(row.value) if row else DEFAULTS.get(key)
    with _lock:
        _cache[key] = (value, now + _CACHE_SECONDS)
    return value


def set_setting(key, value, commit=True):
    """Store a setting; with `commit` False it joins the caller's transaction (which must
    commit, then call `forget_cached_setting`)."""
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=json.dumps(value)))
    else:
        row.value = json.dumps(value)
    if commit:
        db.session.commit()
        forget_cached_setting(key)


def forget_cached_setting(key):
    with _lock:
        _cache.pop(key, None)


def domain_name():
    return get_setting("domain_name") or _HOSTNAME
