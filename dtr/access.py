"""THE permission function. Every registry request, token scope and API/UI action asks
this module; no permission logic lives anywhere else.

Actions: pull (see and pull), push (also push and delete tags), delete, admin (settings,
visibility, grants, deleting the repository). What a caller may do is the union of:
- the global role (none, read-only, read-write, admin), on every repository;
- pull on a public repository, for anyone, anonymous included;
- everything on the caller's own user namespace;
- everything on the repositories of an organization whose `owners` team has the caller;
- the levels granted to the caller's teams on the repository or on its whole organization
  namespace, and to the caller on a repository of a user namespace.
Grants add up; the highest wins.
"""

from sqlalchemy import false, literal, or_, select, true, union_all

from .auth.identity import Identity
from .database import db
from .models import (
    NamespaceTeamAccess,
    Repository,
    RepositoryTeamAccess,
    RepositoryUserAccess,
    Team,
    TeamMember,
)
from .services.settings import get_setting

PULL, PUSH, DELETE, ADMIN = "pull", "push", "delete", "admin"
ALL = frozenset({PULL, PUSH, DELETE, ADMIN})
NOTHING = frozenset()
LEVEL_ACTIONS = {
    "read-only": frozenset({PULL}),
    "read-write": frozenset({PULL, PUSH, DELETE}),
    "admin": ALL,
}
ROLE_ACTIONS = {"none": NOTHING, **LEVEL_ACTIONS}
OWNERS_TEAM = "owners"


def allowed_actions(identity: Identity, repository) -> frozenset:
    """What `identity` may do to `repository` (a `Repository` or a `RepositoryRef`).

    For a name that does not exist yet (`repository_or_prospect`, `id` None), the answer is
    what the caller would have on a private repository of that name, which tells nothing
    the caller could not already see.
    """
    if get_setting("auth_mode") == "none":
        return NOTHING  # a fresh install: nothing until an admin chooses an auth mode
    actions = set(ROLE_ACTIONS.get(identity.role, NOTHING))
    if repository.visibility == "public":
        actions.add(PULL)
    if identity.account_id is None or actions == ALL:
        return frozenset(actions)
    if repository.namespace_id == identity.account_id:
        return ALL
    for level in _granted_levels(identity.account_id, repository.id, repository.namespace_id):
        actions |= LEVEL_ACTIONS[level]
    return frozenset(actions)


def _granted_levels(account_id, repository_id, namespace_id):
    """Every access level granted to the account on a repository, in one query."""
    my_teams = select(TeamMember.team_id).where(TeamMember.account_id == account_id)
    parts = [
        select(literal("admin").label("level"))
        .select_from(Team)
        .where(
            Team.organization_id == namespace_id,
            Team.name == OWNERS_TEAM,
            Team.id.in_(my_teams),
        ),
        select(NamespaceTeamAccess.level).where(
            NamespaceTeamAccess.namespace_id == namespace_id,
            NamespaceTeamAccess.team_id.in_(my_teams),
        ),
    ]
    if repository_id is not None:
        parts += [
            select(RepositoryTeamAccess.level).where(
                RepositoryTeamAccess.repository_id == repository_id,
                RepositoryTeamAccess.team_id.in_(my_teams),
            ),
            select(RepositoryUserAccess.level).where(
                RepositoryUserAccess.repository_id == repository_id,
                RepositoryUserAccess.account_id == account_id,
            ),
        ]
    return set(db.session.scalars(union_all(*parts)))


def _active(identity: Identity) -> bool:
    return get_setting("auth_mode") != "none" and not identity.anonymous


def may_list_catalog(identity: Identity) -> bool:
    return _active(identity) and identity.role == "admin"


def may_administer_organization(identity: Identity, organization_id: int) -> bool:
    """Admins, and members of the organization's owners team: teams, members, grants."""
    if not _active(identity):
        return False
    return identity.role == "admin" or _in_team(identity.account_id, organization_id, OWNERS_TEAM)


def may_create_repository(identity: Identity, namespace_id: int | None) -> bool:
    """In one's own namespace; in an organization as admin, owner, or with a namespace
    grant at admin level."""
    if not _active(identity) or namespace_id is None:
        return False
    if identity.role == "admin" or namespace_id == identity.account_id:
        return True
    return "admin" in _granted_levels(identity.account_id, None, namespace_id)


def may_see_organization_members(identity: Identity, organization_id: int) -> bool:
    """Teams and members of an organization show to its members and to admins."""
    if not _active(identity):
        return False
    return identity.role == "admin" or _in_team(identity.account_id, organization_id)


def _in_team(account_id, organization_id, team_name=None):
    """Is the account in a team (any, or the named one) of the organization?"""
    query = (
        select(Team.id)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(Team.organization_id == organization_id, TeamMember.account_id == account_id)
    )
    if team_name is not None:
        query = query.where(Team.name == team_name)
    return db.session.scalar(query.limit(1)) is not None


def visible_repositories(identity: Identity):
    """A WHERE clause over `Repository`: the repositories `identity` may see (pull), for
    listings and search; the same rules as `allowed_actions`, in SQL."""
    if get_setting("auth_mode") == "none":
        return false()
    if identity.role in ("read-only", "read-write", "admin"):
        return true()
    public = Repository.visibility == "public"
    if identity.account_id is None:
        return public
    my_teams = select(TeamMember.team_id).where(TeamMember.account_id == identity.account_id)
    owned_organizations = select(Team.organization_id).where(
        Team.name == OWNERS_TEAM, Team.id.in_(my_teams)
    )
    granted_namespaces = select(NamespaceTeamAccess.namespace_id).where(
        NamespaceTeamAccess.team_id.in_(my_teams)
    )
    team_granted = select(RepositoryTeamAccess.repository_id).where(
        RepositoryTeamAccess.team_id.in_(my_teams)
    )
    user_granted = select(RepositoryUserAccess.repository_id).where(
        RepositoryUserAccess.account_id == identity.account_id
    )
    return or_(
        public,
        Repository.namespace_id == identity.account_id,
        Repository.namespace_id.in_(owned_organizations),
        Repository.namespace_id.in_(granted_namespaces),
        Repository.id.in_(team_granted),
        Repository.id.in_(user_granted),
    )
