"""LDAP users and teams: login creates the account, the sync keeps accounts and LDAP teams
in step with the directory. Accounts gone from LDAP are deactivated, never deleted."""

from sqlalchemy import delete, select

from ..auth import ldap_directory, passwords
from ..auth.identity import Identity, identity_of
from ..database import db, write_transaction
from ..errors import InvalidCredentials
from ..models import Account, Team, TeamMember
from . import audit
from .auth_settings import ldap_settings
from .credentials import forget_cached, revoke_credentials


def ldap_login(name, password) -> Identity:
    """Authenticate against LDAP (search, then bind as the user) and return the identity of
    the matching account, created on first login."""
    settings = ldap_settings()
    if settings is None:
        raise InvalidCredentials("LDAP is not configured")
    try:
        user = ldap_directory.authenticate(settings, name, password)
    except ldap_directory.LdapUnavailable as error:
        raise InvalidCredentials(f"LDAP is unavailable: {error.message}") from None
    with write_transaction():  # also during a GET (a token request)
        account = _account_for(user)
    forget_cached()
    if not account.active:
        raise InvalidCredentials("the account is deactivated")
    return identity_of(account)


def _account_for(user: ldap_directory.LdapUser) -> Account:
    account = db.session.execute(
        select(Account).where(Account.name == user.username)
    ).scalar_one_or_none()
    if account is None:
        account = Account(name=user.username, is_org=False, role="none", ldap_dn=user.dn)
        db.session.add(account)
        audit.record(None, "ldap.account.create", user.username)
    elif account.is_org:
        raise InvalidCredentials("an organization has this name")
    account.ldap_dn = user.dn
    if user.is_admin and account.role != "admin":
        account.role = "admin"
        revoke_credentials(account)
    db.session.flush()
    return account


def sync_ldap() -> dict:
    """Create accounts for the directory's users, deactivate those gone, reactivate those
    back, and set the members of LDAP teams from their groups. Returns counts."""
    settings = ldap_settings()
    if settings is None:
        return {"created": 0, "deactivated": 0, "teams": 0}
    users = {u.username: u for u in ldap_directory.list_users(settings)}
    existing = {
        a.name: a for a in db.session.scalars(select(Account).where(Account.ldap_dn.is_not(None)))
    }
    created = sum(1 for name in users if name not in existing)
    for user in users.values():
        account = _account_for(user)
        if not account.active:
            account.active = True
            revoke_credentials(account)
    deactivated = 0
    for name, account in existing.items():
        if name not in users and account.active:
            account.active = False
            revoke_credentials(account)
            passwords.forget_checks(name)
            deactivated += 1
            audit.record(None, "ldap.account.deactivate", name)
    teams = list(db.session.scalars(select(Team).where(Team.ldap_group_dn.is_not(None))))
    for team in teams:
        members = ldap_directory.group_members(settings, team.ldap_group_dn)
        accounts = db.session.scalars(select(Account.id).where(Account.name.in_(members)))
        db.session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
        for account_id in set(accounts):
            db.session.add(TeamMember(team_id=team.id, account_id=account_id))
    db.session.commit()
    forget_cached()
    return {"created": created, "deactivated": deactivated, "teams": len(teams)}
