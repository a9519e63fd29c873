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
from ..models import ROLES, Account, Team, TeamMember
from ..names import check_account_name
from . import audit, setup_code
from .callers import require_admin, require_logged_in
from .credential_rules import check_password
from .credentials import forget_cached, identity_of_credential, revoke_credentials
from .settings import forget_cached_setting, get_setting, set_setting


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


def create_user(
    name, password, role, actor: Identity | None = None, setup_code_given=None, local=False
):
    """Create a managed user. `actor` None is the command line. With the auth mode None,
    only the first admin can be created (from another machine than DTR's, with the set-up
    code: `services/setup_code.py`); that switches the mode to Managed."""
    check_account_name(name)
    _check_role(role)
    check_password(password)
    if actor is not None:
        if get_setting("auth_mode") == "none":
            if role != "admin":
                raise NotSetUp()
            setup_code.check_setup_code(setup_code_given, local)
        else:
            require_admin(actor)
    if find_account(name) is not None:
        raise NameTaken(f"the name {name!r} is already taken", {"name": name})
    account = Account(
        name=name, is_org=False, role=role, password_hash=passwords.hash_password(password)
    )
    db.session.add(account)
    audit.record(actor.name if actor else None, "account.create", name, {"role": role})
    _commit_users([(name, role)])
    return account


def _commit_users(created):
    """Commit new users [(name, role)]; the first admin while the auth mode is None switches
    it to Managed, in the same transaction (an admin never exists with the mode still None)."""
    first_admin = next((n for n, role in created if role == "admin"), None)
    if first_admin is not None and get_setting("auth_mode") != "none":
        first_admin = None
    if first_admin is not None:
        set_setting("auth_mode", "managed", commit=False)
        setup_code.discard_setup_code()
        audit.record(first_admin, "settings.auth", "managed", {"reason": "first admin created"})
    db.session.commit()
    if first_admin is not None:
        forget_cached_setting("auth_mode")
        forget_cached_setting(setup_code.SETTING)
        setup_code.remove_setup_code_file()


def import_users_csv(actor: Identity | None, text: str) -> list[Account]:
    """Create managed users from CSV lines `username,password[,role]` (an optional header
    line is skipped). Every line is checked before anything is created: all or nothing.
    `actor` None is the command line (`app.py import-users`), which may also create the
    first admin (as `create-user` may)."""
    if actor is not None:
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
            check_password(password)
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
        audit.record(actor and actor.name, "account.create", name, {"role": role, "via": "csv"})
        created.append(account)
    _commit_users([(account.name, account.role) for account in created])
    return created


def create_organization(name, actor: Identity):
    """Organizations are created by admins; each gets an `owners` team with its creator."""
    organization = new_organization(name, actor)
    db.session.commit()
    return organization


def new_organization(name, actor: Identity, audited="organization.create") -> Account:
    """Add an organization and its `owners` team to the session (not committed)."""
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
    audit.record(actor.name, audited, name)
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
    account = user_or_404(name)
    if account.name == actor.name and role != account.role:
        raise InvalidInput("role: you cannot change your own role", {"field": "role"})
    _check_role(role)
    if role != account.role:
        account.role = role
        revoke_credentials(account)
    audit.record(actor.name, "account.role", name, {"role": role})
    _commit_credential_change(name)
    return account


def set_active(actor: Identity, name, active: bool):
    require_admin(actor)
    account = user_or_404(name)
    if not active and account.name == actor.name:
        raise InvalidInput("you cannot deactivate yourself")
    if active != account.active:
        account.active = active
        revoke_credentials(account)
    audit.record(actor.name, "account.activate" if active else "account.deactivate", name)
    _commit_credential_change(name)
    return account


def _commit_credential_change(name):
    """Commit, then forget what this process remembers of the account's credentials."""
    db.session.commit()
    passwords.forget_checks(name)
    forget_cached()


def change_password(actor: Identity, name, old_password, new_password):
    """Users change their own password (giving the old one); admins change anyone's. Every
    registry and refresh token of the account stops working."""
    require_logged_in(actor)
    account = user_or_404(name)
    if account.ldap_dn:
        raise InvalidInput(f"{name} logs in with the LDAP directory's password: change it there")
    if account.oidc_subject:
        raise InvalidInput(f"{name} signs in with the identity provider: DTR holds no password")
    check_password(new_password, "newPassword")
    if not access.is_admin(actor):
        if actor.account_id != account.id:
            raise Denied("you may change only your own password")
        old = old_password if isinstance(old_password, str) else ""
        if not passwords.verify_password(account.password_hash, old):
            raise InvalidInput("oldPassword: incorrect", {"field": "oldPassword"})
    account.password_hash = passwords.hash_password(new_password)
    revoke_credentials(account)
    audit.record(actor.name, "account.password", name)
    _commit_credential_change(name)


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
    _commit_credential_change(name)
    forget_all_lookups()


def organizations_of(actor: Identity, name):
    """Organizations the user is in (through any team)."""
    require_logged_in(actor)
    account = user_or_404(name)
    if not access.is_admin(actor) and actor.account_id != account.id:
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


def user_or_404(name) -> Account:
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
        current = identity_of_credential(remembered.credential)
        if current is not None:
            return current
        passwords.forget_checks(name)  # changed since: check again
    return passwords.check_once(name, password, lambda: _check_password(name, password))


def _check_password(name, password) -> Identity:
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
        except InvalidCredentials as failure:  # the reason goes to the log, not the client
            reason = failure.detail or failure.message
            raise InvalidCredentials("incorrect username or password", f"LDAP: {reason}") from None
    else:
        raise InvalidCredentials(
            "incorrect username or password", "wrong password, or no such active user"
        )
    passwords.remember_check(
        name, password, identity, current_app.config["CREDENTIAL_CACHE_SECONDS"]
    )
    return identity
