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
Grants add up; the highest wins. Nobody pushes into a proxy namespace (pulls fill it).

A personal access token does what its owner may, within its scopes (SCOPE_ACTIONS); a robot
account does what its grants name on its organization's repositories, and pulls public ones.
"""

from sqlalchemy import false, literal, or_, select, true, union_all

from .auth.identity import (
    API_READ,
    API_WRITE,
    METRICS,
    REGISTRY_PULL,
    REGISTRY_PUSH,
    ROBOT,
    Identity,
)
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
# what a credential's scope lets it do on a repository (the owner's permissions still apply)
SCOPE_ACTIONS = {
    REGISTRY_PULL: frozenset({PULL}),
    REGISTRY_PUSH: frozenset({PULL, PUSH, DELETE}),
    API_READ: frozenset({PULL}),
    API_WRITE: ALL,
}
# access action -> the action a registry token grants for it ("*": all, given to admins)
TOKEN_ACTIONS = {PULL: "pull", PUSH: "push", DELETE: "delete"}
TOKEN_ALL = "*"


def token_actions(actions) -> set:
    """The token actions (`access` claim) for access actions."""
    granted = {TOKEN_ACTIONS[a] for a in actions if a in TOKEN_ACTIONS}
    if ADMIN in actions:
        granted.add(TOKEN_ALL)
    return granted


def actions_of_token(granted) -> set:
    """The access actions a registry token's actions stand for."""
    if TOKEN_ALL in granted:
        return set(ALL)
    return {a for a, t in TOKEN_ACTIONS.items() if t in granted}


def is_admin(identity: Identity) -> bool:
    """A global administrator (a person or their access token; never a robot)."""
    return identity.role == "admin" and identity.kind != ROBOT and not identity.anonymous


def may_read_metrics(identity: Identity) -> bool:
    """/metrics: a global admin (password or session), or an admin's access token with the
    metrics scope. A token never does more than its owner, so a non-admin's cannot."""
    if not _active(identity) or not is_admin(identity):
        return False
    return identity.scopes is None or METRICS in identity.scopes


def allowed_actions(identity: Identity, repository) -> frozenset:
    """What `identity` may do to `repository` (a `Repository` or a `RepositoryRef`).

    For a name that does not exist yet (`repository_or_prospect`, `id` None), the answer is
    what the caller would have on a private repository of that name, which tells nothing
    the caller could not already see.
    """
    if get_setting("auth_mode") == "none":
        return NOTHING  # a fresh install: nothing until an admin chooses an auth mode
    if identity.kind == ROBOT:
        return _robot_actions(identity, repository)
    actions = _account_actions(identity, repository)
    if getattr(repository, "read_only", False):
        actions.discard(PUSH)  # filled by pulls through a proxy namespace or a replication
    if identity.scopes is not None:
        scoped = set()
        for scope in identity.scopes:
            scoped |= SCOPE_ACTIONS.get(scope, NOTHING)
        actions &= scoped
    return frozenset(actions)


def _account_actions(identity, repository) -> set:
    actions = set(ROLE_ACTIONS.get(identity.role, NOTHING))
    if repository.visibility == "public":
        actions.add(PULL)
    if identity.account_id is None or actions == ALL:
        return actions
    if repository.namespace_id == identity.account_id:
        return set(ALL)
    for level in _granted_levels(identity.account_id, repository.id, repository.namespace_id):
        actions |= LEVEL_ACTIONS[level]
    return actions


def _robot_actions(identity, repository) -> frozenset:
    actions = {PULL} if repository.visibility == "public" else set()
    for grant in identity.robot_grants:
        if grant.namespace_id != repository.namespace_id:
            continue
        if grant.repository_id is None or grant.repository_id == repository.id:
            actions |= grant.actions
    if getattr(repository, "read_only", False):
        actions.discard(PUSH)
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
    """A logged-in person (or their token) on a set-up DTR; robots only push and pull."""
    return get_setting("auth_mode") != "none" and not identity.anonymous and identity.kind != ROBOT


def may_list_catalog(identity: Identity) -> bool:
    return _active(identity) and is_admin(identity)


def may_administer_organization(identity: Identity, organization_id: int) -> bool:
    """Admins, and members of the organization's owners team: teams, members, grants."""
    if not _active(identity):
        return False
    return is_admin(identity) or _in_team(identity.account_id, organization_id, OWNERS_TEAM)


def may_create_repository(identity: Identity, namespace_id: int | None) -> bool:
    """In one's own namespace; in an organization as admin, owner, or with a namespace
    grant at admin level."""
    if not _active(identity) or namespace_id is None:
        return False
    if is_admin(identity) or namespace_id == identity.account_id:
        return True
    return "admin" in _granted_levels(identity.account_id, None, namespace_id)


def may_see_organization_members(identity: Identity, organization_id: int) -> bool:
    """Teams and members of an organization show to its members and to admins."""
    if not _active(identity):
        return False
    return is_admin(identity) or _in_team(identity.account_id, organization_id)


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
    public = Repository.visibility == "public"
    if identity.kind == ROBOT:
        return or_(
            public,
            *[
                Repository.namespace_id == grant.namespace_id
                if grant.repository_id is None
                else Repository.id == grant.repository_id
                for grant in identity.robot_grants
                if PULL in grant.actions
            ],
        )
    if identity.scopes is not None and not identity.scopes:
        return public  # a token with no scope on this surface
    if identity.role in ("read-only", "read-write", "admin"):
        return true()
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
