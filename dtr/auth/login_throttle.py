"""Slows password guessing on every path that checks a password (the web form, the token
endpoint, HTTP Basic on /v2 and /api/v0, LDAP binds included), per account name and per
client address. Failures are rows in the database, so every process and replica shares
them.

- A name: after NAME_FREE_FAILURES failures (within NAME_WINDOW of each other), each further
  failure locks the name for NAME_LOCK seconds. The lock is short on purpose: an attacker
  can hold an account to one guess per NAME_LOCK, never lock its owner out for long (and
  access tokens, which cannot be guessed, are not locked with the name).
- An address: after ADDRESS_FREE_FAILURES (an office behind one NAT mistypes too), each
  further failure locks the address for twice as long as the one before, up to
  ADDRESS_MAX_LOCK. A success does not clear it (one good account would hide a spray).

Attempts refused while locked do not count, so hammering a locked name does not extend
its lock. A lock, once read, is remembered by the process until it ends (locks only ever
end later than read: nothing shortens one), so refusing a flood costs no query. The limits
are settings of the configuration (LOGIN_* in dtr/config.py).
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, delete, select, update

from ..database import db, dialect_insert, write_transaction
from ..errors import TooManyRequests
from ..models import LoginFailure, utcnow


@dataclass
class Policy:
    name_free_failures: int = 5
    name_window: int = 900
    name_lock: int = 30
    address_free_failures: int = 20
    address_window: int = 3600
    address_max_lock: int = 900


policy = Policy()


def configure(config):
    global policy
    policy = Policy(
        name_free_failures=config["LOGIN_NAME_FREE_FAILURES"],
        name_lock=config["LOGIN_NAME_LOCK_SECONDS"],
        address_free_failures=config["LOGIN_ADDRESS_FREE_FAILURES"],
        address_max_lock=config["LOGIN_ADDRESS_MAX_LOCK_SECONDS"],
    )


def _name_key(name):
    return "name:" + name.strip().lower()[:280]


def _address_key(address):
    return "addr:" + (address or "?")[:64]


_known_locks: dict = {}  # key -> locked_until, as last read: a flood costs no query


def check(name, address):
    """Raise TooManyRequests while the name or the address is locked; `name` None: the
    address only (access tokens and robot secrets, which cannot be guessed, are never locked
    by their name, but a flood of wrong ones from one address is)."""
    now = utcnow()
    keys = [_address_key(address)] if name is None else [_name_key(name), _address_key(address)]
    known = [_known_locks.get(key) for key in keys]
    if not any(until is not None and until > now for until in known):
        for row in db.session.scalars(select(LoginFailure).where(LoginFailure.key.in_(keys))):
            if row.locked_until is not None and row.locked_until > now:
                if len(_known_locks) > 10000:
                    _known_locks.clear()
                _known_locks[row.key] = row.locked_until
    wait = 0.0
    for key in keys:
        until = _known_locks.get(key)
        if until is not None and until > now:
            wait = max(wait, (until - now).total_seconds())
    if wait > 0:
        seconds = int(wait) + (1 if wait % 1 else 0)
        raise TooManyRequests(
            f"too many failed logins: try again in {seconds} seconds", max(1, seconds)
        )


def record_failure(name, address, also=None):
    """Count a failed login of `name` (None: of no name) from `address`; `also()` runs in
    the same transaction (the audit record)."""
    now = utcnow()
    with write_transaction():
        if name is not None:
            _count(_name_key(name), now, policy.name_window, _name_lock)
        _count(_address_key(address), now, policy.address_window, _address_lock)
        if also is not None:
            also()


def record_success(name):
    """A name's failures are forgotten when its password is given (its address's are not)."""
    key = _name_key(name)
    if db.session.get(LoginFailure, key) is None:
        return
    with write_transaction():
        db.session.execute(delete(LoginFailure).where(LoginFailure.key == key))


def _name_lock(failures):
    return policy.name_lock if failures >= policy.name_free_failures else 0


def _address_lock(failures):
    over = failures - policy.address_free_failures
    if over < 0:
        return 0
    return min(policy.address_max_lock, 2 ** min(over, 30))


def _count(key, now, window, lock_of):
    """Add a failure to `key` (starting over after `window` seconds without one) and lock it
    as `lock_of(failures)` says. One upsert, so concurrent failures all count."""
    stale = now - timedelta(seconds=window)
    insert = dialect_insert(LoginFailure).values(key=key, failures=1, last_failed_at=now)
    table = LoginFailure.__table__
    db.session.execute(
        insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": case((table.c.last_failed_at < stale, 1), else_=table.c.failures + 1),
                "last_failed_at": now,
            },
        )
    )
    failures = db.session.scalar(select(LoginFailure.failures).where(LoginFailure.key == key))
    seconds = lock_of(failures or 1)
    if seconds:
        db.session.execute(
            update(LoginFailure)
            .where(LoginFailure.key == key)
            .values(locked_until=now + timedelta(seconds=seconds))
        )


def forget_old(now=None):
    """Delete rows no longer counting (the scheduler's housekeeping)."""
    now = now or utcnow()
    oldest = now - timedelta(seconds=max(policy.name_window, policy.address_window))
    with write_transaction():
        db.session.execute(
            delete(LoginFailure).where(
                LoginFailure.last_failed_at < oldest,
                (LoginFailure.locked_until.is_(None)) | (LoginFailure.locked_until < now),
            )
        )
