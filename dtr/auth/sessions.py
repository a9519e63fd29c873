"""Browser sessions (Flask-Login): who is logged in to the web portal and the API console.

The session stores the account id, a fingerprint of its password hash and the account's
session epoch: a password change, a deactivation or a logout (which moves the epoch on) ends
every session of that account at its next request, also copies of a session cookie; the
person who changed their own password keeps the session they did it in (`keep_session`). The
epoch is a setting (`session_epoch:<id>`), so no schema is needed for it.
"""

import hashlib

from flask import session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from ..database import db
from ..logs import set_request_user
from ..models import Account
from ..services.settings import get_setting, set_setting
from .identity import ANONYMOUS, Identity, identity_of

login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.session_protection = "strong"


class SessionUser(UserMixin):
    def __init__(self, account: Account):
        self.identity = identity_of(account)
        self._id = f"{account.id}:{_fingerprint(account)}:{_epoch(account.id)}"

    def get_id(self):
        return self._id


def _fingerprint(account: Account) -> str:
    held = account.password_hash or account.ldap_dn or account.oidc_subject or ""
    return hashlib.sha256(held.encode()).hexdigest()[:16]


def _epoch(account_id) -> int:
    return get_setting(f"session_epoch:{account_id}") or 0


@login_manager.user_loader
def _load_user(session_id: str):
    account_id, _, rest = session_id.partition(":")
    fingerprint, _, epoch = rest.partition(":")
    if not account_id.isdecimal():
        return None
    account = db.session.get(Account, int(account_id))
    if account is None or account.is_org or not account.active:
        return None
    if _fingerprint(account) != fingerprint or str(_epoch(account.id)) != epoch:
        return None
    return SessionUser(account)


def start_session(identity: Identity):
    """Log the identity in (after its password was checked)."""
    account = db.session.get(Account, identity.account_id)
    session.clear()  # a new session id: no fixation
    login_user(SessionUser(account))


def keep_session(identity: Identity):
    """After this browser's person changed their password: their session goes on, with the
    new password's fingerprint; every other session of the account, which holds the old
    one, ends at its next request."""
    login_user(SessionUser(db.session.get(Account, identity.account_id)))


def end_session():
    """Log out: this browser, and every other session of the account (cookies are signed,
    not stored, so only moving the epoch on makes a copied cookie useless)."""
    user = current_user
    if user is not None and user.is_authenticated:
        account_id = user.identity.account_id
        set_setting(f"session_epoch:{account_id}", _epoch(account_id) + 1)
    logout_user()
    session.clear()


def session_identity() -> Identity:
    """The logged-in identity of this browser, or ANONYMOUS."""
    user = current_user
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    set_request_user(user.identity.name)
    return user.identity
