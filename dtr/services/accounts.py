"""Accounts: users (who log in) and organizations (namespaces with teams)."""

import csv
import io

from flask import current_app
from sqlalchemy import func, select

from .. import access
from ..auth import passwords
from ..auth.identity import Identity, identity_of
from ..database import db
from ..errors import (
    Denied,
    DomainError,
    InvalidCredentials,
    InvalidInput,
    NameTaken,
    NameUnknown,
    NotSetUp,
)
from ..logs import component_logger
from ..models import ROLES, Account, Team, TeamMember
from ..names import check_account_name
from . import audit
from .callers import require_admin, require_logged_in
from .settings import forget_cached_setting, get_setting, set_setting

log = component_logger("auth")


def find_account(name):
    return db.session.execute(select(Account).where(Account.name == name)).scalar_one_or_none()


def account_or_404(name) -> Account:
    account = find_account(name)
    if account is None:
        raise NameUnknown(f"no account named {name!r}", {"name": name})
    return account


def _check_role(role):
    if role not in ROLES:
        raise InvalidInput(f"role: must be one of {', '.join(ROLES)}", {"field": "role"})
    return role


def _check_password(password, field="password"):
    if not isinstance(password, str) or len(password) < 1:
        raise InvalidInput(f"{field}: required", {"field": field})
    return password


def create_user(name, password, role, actor: Identity | None = None):
    """Create a managed user. `actor` None is the command line. With the auth mode None,
    only the first admin can be created; that switches the mode to Managed."""
    check_account_name(name)
    _check_role(role)
    _check_password(password)
    if actor is not None:
        if get_setting("auth_mode") == "none":
            if role != "admin":
                raise NotSetUp()
        else:
            require_admin(actor)
    if find_account(name) is not None:
        raise NameTaken(f"the name {name!r} is already taken", {"name": name})
    account = Account(
        name=name, is_org=False, role=role, password_hash=passwords.hash_password(password)
    )
    db.session.add(account)
    audit.record(actor.name if actor else None, "account.create", name, {"role": role})
    first_admin = role == "admin" and get_setting("auth_mode") == "none"
    if first_admin:  # in the same transaction: an admin never exists with the mode still None
        set_setting("auth_mode", "managed", commit=False)
        audit.record(name, "settings.auth", "managed", {"reason": "first admin created"})
    db.session.commit()
    if first_admin:
        forget_cached_setting("auth_mode")
    return account


def import_users_csv(actor: Identity, text: str) -> list[Account]:
    """Create managed users from CSV lines `username,password[,role]` (an optional header
    line is skipped). Every line is checked before anything is created: all or nothing."""
    require_admin(actor)
    rows = []
    seen = set()
    for number, line in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not line or (number == 1 and [c.strip() for c in line[:2]] == ["username", "password"]):
            continue
        where = f"csv line {number}"
        if len(line) not in (2, 3):
            raise InvalidInput(f"{where}: expected username,password[,role]", {"line": number})
        name, password = line[0].strip(), line[1]
        role = line[2].strip() if len(line) == 3 and line[2].strip() else "none"
        try:
            check_account_name(name)
            _check_role(role)
            _check_password(password)
        except DomainError as error:
            raise InvalidInput(f"{where}: {error.message}", {"line": number}) from None
        if name in seen:
            raise InvalidInput(f"{where}: {name} appears twice", {"line": number})
        if find_account(name) is not None:
            raise NameTaken(f"{where}: the name {name!r} is already taken", {"line": number})
        seen.add(name)
        rows.append((name, password, role))
    if not rows:
        raise InvalidInput("csv: no users in it", {"field": "csv"})
    created = []
    for name, password, role in rows:
        account = Account(
            name=name, is_org=False, role=role, password_hash=passwords.hash_password(password)
        )
        db.session.add(account)
        audit.record(actor.name, "account.create", name, {"role": role, "via": "csv"})
        created.append(account)
    db.session.commit()
    return created


def create_organization(name, actor: Identity):
    """Organizations are created by admins; each gets an `owners` team with its creator."""
    require_admin(actor)
    check_account_name(name)
    if find_account(name) is not None:
        raise NameTaken(f"the name {name!r} is already taken", {"name": name})
    organization = Account(name=name, is_org=True, role="none")
    db.session.add(organization)
    db.session.flush()
    owners = Team(organization_id=organization.id, name=access.OWNERS_TEAM, description="")
    db.session.add(owners)
    db.session.flush()
    if actor.account_id is not None:
        db.session.add(TeamMember(team_id=owners.id, account_id=actor.account_id))
    audit.record(actor.name, "organization.create", name)
    db.session.commit()
    return organization


def list_accounts(actor: Identity, start=0, limit=100):
    require_logged_in(actor)
    query = select(Account).order_by(Account.name).offset(start).limit(limit)
    total = db.session.scalar(select(func.count()).select_from(Account))
    return list(db.session.scalars(query)), total


def get_account(actor: Identity, name) -> Account:
    require_logged_in(actor)
    return account_or_404(name)


def set_role(actor: Identity, name, role):
    require_admin(actor)
    account = _user_or_404(name)
    if account.name == actor.name and role != account.role:
        raise InvalidInput("role: you cannot change your own role", {"field": "role"})
    account.role = _check_role(role)
    audit.record(actor.name, "account.role", name, {"role": role})
    db.session.commit()
    passwords.forget_checks(name)
    return account


def set_active(actor: Identity, name, active: bool):
    require_admin(actor)
    account = _user_or_404(name)
    if not active and account.name == actor.name:
        raise InvalidInput("you cannot deactivate yourself")
    account.active = active
    audit.record(actor.name, "account.activate" if active else "account.deactivate", name)
    db.session.commit()
    passwords.forget_checks(name)
    return account


def change_password(actor: Identity, name, old_password, new_password):
    """Users change their own password (giving the old one); admins change anyone's."""
    require_logged_in(actor)
    account = _user_or_404(name)
    _check_password(new_password, "newPassword")
    if actor.role != "admin":
        if actor.name != name:
            raise Denied("you may change only your own password")
        if not passwords.verify_password(account.password_hash, old_password or ""):
            raise InvalidInput("oldPassword: incorrect", {"field": "oldPassword"})
    account.password_hash = passwords.hash_password(new_password)
    audit.record(actor.name, "account.password", name)
    db.session.commit()
    passwords.forget_checks(name)


def delete_account(actor: Identity, name):
    """Delete a user or an organization with its repositories and teams (idempotent)."""
    require_admin(actor)
    account = find_account(name)
    if account is None:
        return
    if account.name == actor.name:
        raise InvalidInput("you cannot delete yourself")
    from .repositories import forget_all_lookups  # repositories imports this module

    db.session.delete(account)
    audit.record(actor.name, "account.delete", name)
    db.session.commit()
    passwords.forget_checks(name)
    forget_all_lookups()


def organizations_of(actor: Identity, name):
    """Organizations the user is in (through any team)."""
    require_logged_in(actor)
    account = _user_or_404(name)
    if actor.role != "admin" and actor.name != name:
        raise Denied("you may list only your own organizations")
    query = (
        select(Account)
        .join(Team, Team.organization_id == Account.id)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.account_id == account.id)
        .distinct()
        .order_by(Account.name)
    )
    return list(db.session.scalars(query))


def _user_or_404(name) -> Account:
    account = account_or_404(name)
    if account.is_org:
        raise NameUnknown(f"no user named {name!r}", {"name": name})
    return account


def authenticate(name, password) -> Identity:
    """Check a user's password; raise InvalidCredentials when it is wrong. In LDAP mode,
    local admins log in with their local password (break-glass when LDAP is down), everyone
    else through LDAP."""
    remembered = passwords.cached_check(name, password)
    if remembered is not None:
        return remembered
    mode = get_setting("auth_mode")
    account = find_account(name) if name else None
    password_ok = passwords.verify_password(account.password_hash if account else None, password)
    local = (
        password_ok
        and not account.is_org
        and account.active
        and mode != "none"
        and (mode == "managed" or account.role == "admin")
    )
    if local:
        identity = identity_of(account)
    elif mode == "ldap" and password:
        from .ldap_sync import ldap_login  # ldap_sync builds on this module

        try:
            identity = ldap_login(name, password)
        except InvalidCredentials as failure:
            reason = failure.detail or failure.message
            log.warning("LDAP login failed for %r: %s", name[:100], reason)
            raise
    else:
        log.warning("login failed for %r", name[:100])
        raise InvalidCredentials("incorrect username or password")
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
