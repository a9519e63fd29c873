"""Users (and, later, organizations): creation and authentication."""

from flask import current_app
from sqlalchemy import select

from ..auth import passwords
from ..auth.identity import Identity, identity_of
from ..database import db
from ..errors import InvalidCredentials, InvalidInput, NameTaken
from ..models import ROLES, Account
from ..names import check_account_name
from .settings import get_setting, set_setting


def find_account(name):
    return db.session.execute(select(Account).where(Account.name == name)).scalar_one_or_none()


def create_user(name, password, role):
    """Create a managed user; the first admin switches the auth mode from None to Managed."""
    check_account_name(name)
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if not password:
        raise InvalidInput("a password is required")
    if find_account(name) is not None:
        raise NameTaken(f"the name {name!r} is already taken")
    account = Account(
        name=name, is_org=False, role=role, password_hash=passwords.hash_password(password)
    )
    db.session.add(account)
    db.session.commit()
    if role == "admin" and get_setting("auth_mode") == "none":
        set_setting("auth_mode", "managed")
    return account


def authenticate(name, password) -> Identity:
    """Check a user's password; raise InvalidCredentials when it is wrong."""
    remembered = passwords.cached_check(name, password)
    if remembered is not None:
        return remembered
    account = find_account(name) if name else None
    if (
        account is None
        or account.is_org
        or not account.active
        or get_setting("auth_mode") == "none"
        or not passwords.verify_password(account.password_hash, password)
    ):
        raise InvalidCredentials("incorrect username or password")
    identity = identity_of(account)
    passwords.remember_check(
        name, password, identity, current_app.config["CREDENTIAL_CACHE_SECONDS"]
    )
    return identity


def identity_for_name(name) -> Identity | None:
    """The current identity of an active user (refresh tokens re-read role and state)."""
    account = find_account(name)
    if account is None or account.is_org or not account.active:
        return None
    return identity_of(account)
