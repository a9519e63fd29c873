"""Admin settings stored in the database, so that changes apply without a restart.

Values are cached for a few seconds; a write clears the cache of this process and, through
`change_signals`, of every other process sharing the database at its next request.
"""

import json
import socket

from ..cache import ExpiringCache
from ..database import db
from ..models import Setting
from . import change_signals

DEFAULTS = {
    "auth_mode": "none",  # none | managed | ldap
    "create_on_push": False,
    "domain_name": None,  # None: the host name
    "password_min_length": 12,  # services/credential_rules.py
    "token_max_lifetime_days": 365,
}
_HOSTNAME = socket.gethostname()
_cache = ExpiringCache(5.0)


def get_setting(key):
    value, generation = _cache.lookup(key)
    if value is not ExpiringCache.MISS:
        return value
    row = db.session.get(Setting, key)
    value = json.loads(row.value) if row else DEFAULTS.get(key)
    _cache.store(key, value, generation)
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
    """After a commit that changed `key`: forget it here and in every process sharing the
    database (see `change_signals`)."""
    _cache.forget(key)
    change_signals.announce(change_signals.PEOPLE)


change_signals.on_remote_change(change_signals.PEOPLE, _cache.drop_all)


def domain_name():
    return get_setting("domain_name") or _HOSTNAME
