"""Access grants: team -> repository, team -> organization namespace, user -> repository."""

from sqlalchemy import select

from .. import access
from ..database import db
from ..errors import InvalidInput, NameUnknown
from ..models import (
    ACCESS_LEVELS,
    Account,
    NamespaceTeamAccess,
    RepositoryTeamAccess,
    RepositoryUserAccess,
    Team,
)
from . import audit
from .accounts import account_or_404
from .callers import require_logged_in
from .repositories import visible_repository
from .teams import authorize_organization, organization_or_404, team_or_404


def _level(value):
    if value not in ACCESS_LEVELS:
        raise InvalidInput(
            f"accessLevel: one of {', '.join(ACCESS_LEVELS)}", {"field": "accessLevel"}
        )
    return value


def _grant(actor, model, keys, level, action, target, grantee):
    """Create or change a grant row (`keys`: its primary key, in order); audited with
    `grantee` ({"team": name} or {"user": name})."""
    grant = db.session.get(model, tuple(keys.values()))
    if grant is None:
        grant = model(**keys)
        db.session.add(grant)
    grant.level = _level(level)
    audit.record(actor.name, action, target, {**grantee, "level": grant.level})
    db.session.commit()
    return grant.level


def _revoke(actor, model, keys, action, target, grantee):
    """Delete a grant row if it exists (idempotent); audited."""
    grant = db.session.get(model, tuple(keys.values()))
    if grant is not None:
        db.session.delete(grant)
        audit.record(actor.name, action, target, grantee)
        db.session.commit()


def _organization_of(repository) -> Account:
    namespace = db.session.get(Account, repository.namespace_id)
    if not namespace.is_org:
        raise InvalidInput("team access applies to repositories of organizations")
    return namespace


def list_repository_team_access(actor, full_name):
    repository = visible_repository(actor, full_name, access.PULL)
    require_logged_in(actor)  # grants name teams, LDAP groups, users: not for anonymous eyes
    rows = db.session.execute(
        select(Team, RepositoryTeamAccess.level)
        .join(RepositoryTeamAccess, RepositoryTeamAccess.team_id == Team.id)
        .where(RepositoryTeamAccess.repository_id == repository.id)
        .order_by(Team.name)
    )
    return [(team, level) for team, level in rows]


def set_repository_team_access(actor, full_name, team_name, level):
    repository = visible_repository(actor, full_name, access.ADMIN)
    team = team_or_404(_organization_of(repository), team_name)
    keys = {"repository_id": repository.id, "team_id": team.id}
    level = _grant(
        actor, RepositoryTeamAccess, keys, level, "grant.team", full_name, {"team": team_name}
    )
    return team, level


def revoke_repository_team_access(actor, full_name, team_name):
    repository = visible_repository(actor, full_name, access.ADMIN)
    team = team_or_404(_organization_of(repository), team_name)
    keys = {"repository_id": repository.id, "team_id": team.id}
    _revoke(actor, RepositoryTeamAccess, keys, "grant.team.revoke", full_name, {"team": team_name})


def list_repository_user_access(actor, full_name):
    repository = visible_repository(actor, full_name, access.PULL)
    require_logged_in(actor)  # grants name teams, LDAP groups, users: not for anonymous eyes
    rows = db.session.execute(
        select(Account, RepositoryUserAccess.level)
        .join(RepositoryUserAccess, RepositoryUserAccess.account_id == Account.id)
        .where(RepositoryUserAccess.repository_id == repository.id)
        .order_by(Account.name)
    )
    return [(account, level) for account, level in rows]


def _user_namespace_repository(actor, full_name):
    repository = visible_repository(actor, full_name, access.ADMIN)
    if db.session.get(Account, repository.namespace_id).is_org:
        raise InvalidInput("user access applies to repositories of user namespaces")
    return repository


def _user(name):
    account = account_or_404(name)
    if account.is_org:
        raise NameUnknown(f"no user named {name!r}", {"name": name})
    return account


def set_repository_user_access(actor, full_name, user_name, level):
    repository = _user_namespace_repository(actor, full_name)
    user = _user(user_name)
    keys = {"repository_id": repository.id, "account_id": user.id}
    level = _grant(
        actor, RepositoryUserAccess, keys, level, "grant.user", full_name, {"user": user_name}
    )
    return user, level


def revoke_repository_user_access(actor, full_name, user_name):
    repository = _user_namespace_repository(actor, full_name)
    user = _user(user_name)
    keys = {"repository_id": repository.id, "account_id": user.id}
    _revoke(actor, RepositoryUserAccess, keys, "grant.user.revoke", full_name, {"user": user_name})


def list_namespace_team_access(actor, namespace):
    organization = organization_or_404(namespace)
    authorize_organization(actor, organization, administer=False)
    rows = db.session.execute(
        select(Team, NamespaceTeamAccess.level)
        .join(NamespaceTeamAccess, NamespaceTeamAccess.team_id == Team.id)
        .where(NamespaceTeamAccess.namespace_id == organization.id)
        .order_by(Team.name)
    )
    return [(team, level) for team, level in rows]


def set_namespace_team_access(actor, namespace, team_name, level):
    organization = organization_or_404(namespace)
    authorize_organization(actor, organization, administer=True)
    team = team_or_404(organization, team_name)
    keys = {"namespace_id": organization.id, "team_id": team.id}
    level = _grant(
        actor, NamespaceTeamAccess, keys, level, "grant.namespace", namespace, {"team": team_name}
    )
    return team, level


def revoke_namespace_team_access(actor, namespace, team_name):
    organization = organization_or_404(namespace)
    authorize_organization(actor, organization, administer=True)
    team = team_or_404(organization, team_name)
    keys = {"namespace_id": organization.id, "team_id": team.id}
    _revoke(
        actor, NamespaceTeamAccess, keys, "grant.namespace.revoke", namespace, {"team": team_name}
    )
