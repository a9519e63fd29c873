"""Signing in with the OpenID Connect provider: the verified claims of a person -> their
account, created at the first sign-in, with its global role and its provider-bound teams
brought in step with the groups the provider names at each sign-in.

Accounts are found by the provider's subject (`<issuer> <sub>`), never by name alone: a
provider whose users may choose their `preferred_username` must not be able to take over a
local account or an organization of that name.
"""

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..auth import oidc_client, passwords
from ..auth.identity import Identity, identity_of
from ..database import db, write_transaction
from ..errors import DomainError
from ..models import Account, Team, TeamMember
from ..names import check_account_name
from . import audit
from .auth_settings import oidc_settings
from .credentials import forget_cached, revoke_credentials
from .settings import get_setting


class OidcLoginFailed(DomainError):
    """The person may not sign in: the message says why, for them."""


def settings_for_login() -> oidc_client.OidcSettings:
    settings = oidc_settings()
    if get_setting("auth_mode") != "oidc" or settings is None:
        raise OidcLoginFailed("single sign-on is not enabled")
    return settings


def account_for_claims(settings: oidc_client.OidcSettings, claims: dict) -> Identity:
    """The identity of the person the verified `claims` describe; their account is created or
    brought up to date (role, provider teams) in one transaction."""
    name = _username(settings, claims)
    groups = _groups(settings, claims)
    _check_allowed(settings, claims, groups)
    subject = f"{settings.issuer} {claims['sub']}"
    try:
        account, identity = _account_in_step(settings, subject, name, groups)
    except IntegrityError:  # the same person's first sign-in twice at once: the other won
        account, identity = _account_in_step(settings, subject, name, groups)
    forget_cached()
    passwords.forget_checks(account.name)
    if identity is None:
        raise OidcLoginFailed(f"the account {account.name} is deactivated: ask an administrator")
    return identity


def _account_in_step(settings, subject, name, groups):
    with write_transaction():  # one transaction, whatever the request's method
        account = _account(settings, subject, name)
        _update_role(settings, account, groups)
        _sync_teams(account, groups)
        db.session.flush()
        return account, identity_of(account) if account.active else None


def _username(settings, claims) -> str:
    raw = claims.get(settings.username_claim)
    if not isinstance(raw, str) or not raw:
        raise OidcLoginFailed(
            f"the provider sent no {settings.username_claim!r} claim to use as your user name "
            f"(ask an administrator to check the scopes and the user name claim)"
        )
    name = raw.strip().lower()
    if settings.username_claim == "email":
        name = name.split("@")[0]
    try:
        check_account_name(name)
    except DomainError as error:
        raise OidcLoginFailed(
            f"your user name {raw[:100]!r} (claim {settings.username_claim}) cannot be a DTR "
            f"account name: {error.message}"
        ) from None
    return name


def _groups(settings, claims) -> set:
    value = claims.get(settings.groups_claim, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return set()
    return {group for group in value[:1000] if isinstance(group, str) and group}


def _check_allowed(settings, claims, groups):
    if settings.allowed_groups and not groups & set(settings.allowed_groups):
        raise OidcLoginFailed(
            "you are in none of the groups allowed to use this registry: ask an administrator"
        )
    if settings.allowed_domains:
        email = claims.get("email")
        domain = email.rpartition("@")[2].lower() if isinstance(email, str) else ""
        if claims.get("email_verified") is False or domain not in settings.allowed_domains:
            raise OidcLoginFailed(
                "your e-mail address is not verified or not of a domain allowed to use "
                "this registry: ask an administrator"
            )


def _account(settings, subject, name) -> Account:
    account = db.session.execute(
        select(Account).where(Account.oidc_subject == subject)
    ).scalar_one_or_none()
    if account is not None:
        return account
    if db.session.execute(select(Account.id).where(Account.name == name)).first():
        raise OidcLoginFailed(
            f"the name {name} belongs to another account (a local user or an organization): "
            "ask an administrator to rename or remove it"
        )
    account = Account(name=name, is_org=False, role=settings.default_role, oidc_subject=subject)
    db.session.add(account)
    db.session.flush()
    audit.record(None, "oidc.account.create", name, {"role": settings.default_role})
    return account


def _update_role(settings, account, groups):
    """With an admin group, membership of it decides who of the provider's people is an
    admin; roles below admin are the administrators' to set."""
    if settings.admin_group is None:
        return
    role = account.role
    if settings.admin_group in groups:
        role = "admin"
    elif account.role == "admin":
        role = settings.default_role
    if role != account.role:
        audit.record(None, "account.role", account.name, {"role": role, "via": "oidc"})
        account.role = role
        revoke_credentials(account)


def _sync_teams(account, groups):
    """Membership of every provider-bound team follows the groups."""
    bound = db.session.execute(select(Team.id, Team.oidc_group).where(Team.oidc_group.is_not(None)))
    wanted = {team_id for team_id, group in bound if group in groups}
    current = set(
        db.session.scalars(
            select(TeamMember.team_id)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.account_id == account.id, Team.oidc_group.is_not(None))
        )
    )
    for team_id in wanted - current:
        db.session.add(TeamMember(team_id=team_id, account_id=account.id))
    if current - wanted:
        db.session.execute(
            delete(TeamMember).where(
                TeamMember.account_id == account.id, TeamMember.team_id.in_(current - wanted)
            )
        )
    if wanted != current:
        audit.record(
            None,
            "oidc.teams",
            account.name,
            {"added": len(wanted - current), "removed": len(current - wanted)},
        )
