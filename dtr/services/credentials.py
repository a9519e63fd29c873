"""Credential references and their current identity.

Every credential names itself with a short reference that registry and refresh tokens carry
(the `cred` claim):

    u:<account id>:<generation>      a person's password (or LDAP login)
    t:<token id>:<owner generation>  a personal access token
    r:<robot id>:<generation>        a robot account's secret

A generation moves on when a password, a role or an account's state changes (or a robot's
secret, access or state), so every token issued before stops working: a deactivation, a
downgrade or a password change takes effect on the next request, not when tokens expire.
`identity_of_credential` answers from a cache of LOOKUP_CACHE_SECONDS, forgotten at once on
every change, in this process and (services/change_signals.py) in the others.
"""

import threading
import time

from sqlalchemy import update

from ..auth import passwords
from ..auth.identity import Identity, identity_of
from ..cache import ExpiringCache
from ..database import db, write_transaction
from ..models import Account
from . import change_signals

_cache = ExpiringCache(2.0)
_lock = threading.Lock()


def configure(seconds: float):
    _cache.seconds = seconds
    _cache.drop_all()


def identity_of_credential(credential: str | None) -> Identity | None:
    """The identity a credential reference stands for now, or None when it was revoked,
    changed, deactivated or never existed."""
    if not credential:
        return None
    identity, generation = _cache.lookup(credential)
    if identity is not ExpiringCache.MISS:
        return identity
    identity = _look_up(credential)
    _cache.store(credential, identity, generation)
    return identity


def forget_cached():
    """Forget every remembered answer (after a commit that changed a credential), in every
    process sharing the database."""
    _cache.drop_all()
    change_signals.announce(change_signals.PEOPLE)


change_signals.on_remote_change(change_signals.PEOPLE, _cache.drop_all)
change_signals.on_remote_change(change_signals.PEOPLE, passwords.forget_all_checks)


def _look_up(credential) -> Identity | None:
    kind, _, rest = credential.partition(":")
    number, _, generation = rest.partition(":")
    if not number.isdecimal() or not generation.isdecimal() or len(number) > 18:
        return None
    if kind == "u":
        account = db.session.get(Account, int(number))
        if account is None or not account_may_log_in(account):
            return None
        if str(account.credential_generation) != generation:
            return None
        return identity_of(account)
    if kind == "t":
        from .access_tokens import identity_of_token_id

        return identity_of_token_id(int(number), generation)
    if kind == "r":
        from .robots import identity_of_robot_id

        return identity_of_robot_id(int(number), generation)
    return None


def account_may_log_in(account: Account) -> bool:
    return not account.is_org and account.active


def revoke_credentials(account: Account):
    """Move the account's generation on: every registry and refresh token of the account
    (and of its access tokens) stops working. The caller commits, then `forget_cached`."""
    account.credential_generation = (account.credential_generation or 0) + 1


USE_RECORD_SECONDS = 60
_recorded_uses: dict = {}


def record_use(identity: Identity, address):
    """Remember when and from where an access token or a robot last logged in (at most once
    a minute per credential and address, so a busy CI costs no write per request)."""
    kind, _, rest = (identity.credential or "").partition(":")
    if kind not in ("t", "r"):
        return
    now = time.monotonic()
    key = (identity.credential, address)
    with _lock:
        last = _recorded_uses.get(key)
        if last is not None and now - last < USE_RECORD_SECONDS:
            return
        if len(_recorded_uses) > 10000:
            _recorded_uses.clear()
        _recorded_uses[key] = now
    from ..models import AccessToken, Robot, utcnow

    model = AccessToken if kind == "t" else Robot
    with write_transaction():
        db.session.execute(
            update(model)
            .where(model.id == int(rest.partition(":")[0]))
            .values(last_used_at=utcnow(), last_used_from=(address or "")[:64] or None)
        )
