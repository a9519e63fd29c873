"""Teams of organizations and their members."""

from sqlalchemy import func, select

from .. import access
from ..database import db
from ..errors import Denied, InvalidInput, NameTaken, NameUnknown
from ..models import Account, Repository, RepositoryTeamAccess, Team, TeamMember
from ..names import check_account_name
from . import audit
from .accounts import account_or_404
from .callers import require_logged_in


def organization_or_404(name) -> Account:
    account = account_or_404(name)
    if not account.is_org:
        raise NameUnknown(f"no organization named {name!r}", {"name": name})
    return account


def authorize_organization(actor, organization, administer):
    require_logged_in(actor)
    if administer:
        allowed = access.may_administer_organization(actor, organization.id)
    else:
        allowed = access.may_see_organization_members(actor, organization.id)
    if not allowed:
        raise Denied(
            f"only {'owners of' if administer else 'members of'} {organization.name} may do this"
        )


def team_or_404(organization, name) -> Team:
    team = db.session.execute(
        select(Team).where(Team.organization_id == organization.id, Team.name == name)
    ).scalar_one_or_none()
    if team is None:
        raise NameUnknown(f"no team {name!r} in {organization.name}", {"team": name})
    return team


def list_teams(actor, org_name):
    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=False)
    return list(
        db.session.scalars(
            select(Team).where(Team.organization_id == organization.id).order_by(Team.name)
        )
    )


def get_team(actor, org_name, team_name) -> Team:
    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=False)
    return team_or_404(organization, team_name)


def create_team(actor, org_name, name, description="", ldap_group_dn=None, oidc_group=None) -> Team:
    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=True)
    check_account_name(name)
    if not isinstance(description, str):
        raise InvalidInput("description: a string", {"field": "description"})
    _check_binding(ldap_group_dn or None, _checked_group(oidc_group))
    exists = db.session.execute(
        select(Team.id).where(Team.organization_id == organization.id, Team.name == name)
    ).first()
    if exists:
        raise NameTaken(f"team {name!r} already exists in {org_name}", {"team": name})
    team = Team(
        organization_id=organization.id,
        name=name,
        description=description,
        ldap_group_dn=ldap_group_dn or None,
        oidc_group=oidc_group or None,
    )
    db.session.add(team)
    audit.record(actor.name, "team.create", f"{org_name}/{name}")
    db.session.commit()
    return team


def update_team(actor, org_name, team_name, changes: dict) -> Team:
    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=True)
    team = team_or_404(organization, team_name)
    unknown = sorted(set(changes) - {"description", "ldapGroupDN", "oidcGroup"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: cannot be changed", {"field": unknown[0]})
    if "ldapGroupDN" in changes and not isinstance(changes["ldapGroupDN"], str | None):
        raise InvalidInput("ldapGroupDN: a string or null", {"field": "ldapGroupDN"})
    oidc_group = _checked_group(changes.get("oidcGroup", team.oidc_group))
    _check_binding(changes.get("ldapGroupDN", team.ldap_group_dn) or None, oidc_group)
    if "description" in changes:
        if not isinstance(changes["description"], str):
            raise InvalidInput("description: a string", {"field": "description"})
        team.description = changes["description"]
    if "ldapGroupDN" in changes:
        team.ldap_group_dn = changes["ldapGroupDN"] or None
    if "oidcGroup" in changes:
        team.oidc_group = oidc_group
    audit.record(actor.name, "team.update", f"{org_name}/{team_name}", changes)
    db.session.commit()
    return team


def _checked_group(group):
    """An identity provider's group name, or None."""
    if group is None or group == "":
        return None
    if not isinstance(group, str) or len(group) > 255 or not group.isprintable():
        raise InvalidInput(
            "oidcGroup: a group name of at most 255 printable characters, or null",
            {"field": "oidcGroup"},
        )
    return group


def _check_binding(ldap_group_dn, oidc_group):
    if ldap_group_dn and oidc_group:
        raise InvalidInput(
            "oidcGroup: a team's members come from an LDAP group or from an identity "
            "provider's group, not both",
            {"field": "oidcGroup"},
        )


def _refuse_bound(team):
    """Members of a bound team are set by their directory, never by hand."""
    if team.ldap_group_dn:
        raise InvalidInput("members of an LDAP team come from its LDAP group")
    if team.oidc_group:
        raise InvalidInput(
            f"members of this team come from the identity provider's group {team.oidc_group}"
            " (at each sign-in)"
        )


def delete_team(actor, org_name, team_name):
    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=True)
    if team_name == access.OWNERS_TEAM:
        raise InvalidInput("the owners team cannot be deleted")
    team = db.session.execute(
        select(Team).where(Team.organization_id == organization.id, Team.name == team_name)
    ).scalar_one_or_none()
    if team is not None:
        db.session.delete(team)
        audit.record(actor.name, "team.delete", f"{org_name}/{team_name}")
        db.session.commit()


def list_members(actor, org_name, team_name):
    team = get_team(actor, org_name, team_name)
    return list(
        db.session.scalars(
            select(Account)
            .join(TeamMember, TeamMember.account_id == Account.id)
            .where(TeamMember.team_id == team.id)
            .order_by(Account.name)
        )
    )


def membership(actor, org_name, team_name, member_name) -> Account:
    """The member, if in the team; NameUnknown otherwise."""
    team = get_team(actor, org_name, team_name)
    member = account_or_404(member_name)
    if db.session.get(TeamMember, (team.id, member.id)) is None:
        raise NameUnknown(f"{member_name} is not a member of {org_name}/{team_name}")
    return member


def add_member(actor, org_name, team_name, member_name) -> bool:
    """Add a user to a team; True when added, False when already there."""
    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=True)
    team = team_or_404(organization, team_name)
    member = account_or_404(member_name)
    if member.is_org:
        raise InvalidInput("only users can be team members")
    _refuse_bound(team)
    if db.session.get(TeamMember, (team.id, member.id)) is not None:
        return False
    db.session.add(TeamMember(team_id=team.id, account_id=member.id))
    audit.record(actor.name, "team.member.add", f"{org_name}/{team_name}", {"member": member_name})
    db.session.commit()
    return True


def member_candidates(actor, org_name, team_name, query="", limit=20) -> list[Account]:
    """Users who may join the team (not in it yet), by name; those whose name contains
    `query` when one is given. For those who administer the organization."""
    from .search import contains_pattern

    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=True)
    team = team_or_404(organization, team_name)
    in_team = select(TeamMember.account_id).where(TeamMember.team_id == team.id)
    statement = select(Account).where(Account.is_org.is_(False), Account.id.not_in(in_team))
    if query:
        pattern = contains_pattern(query)
        statement = statement.where(func.lower(Account.name).like(pattern, escape="\\"))
    return list(db.session.scalars(statement.order_by(Account.name).limit(limit)))


def remove_member(actor, org_name, team_name, member_name):
    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=True)
    team = team_or_404(organization, team_name)
    member = account_or_404(member_name)
    _refuse_bound(team)
    membership = db.session.get(TeamMember, (team.id, member.id))
    if membership is not None:
        db.session.delete(membership)
        audit.record(
            actor.name, "team.member.remove", f"{org_name}/{team_name}", {"member": member_name}
        )
        db.session.commit()


def team_repository_access(actor, org_name, team_name):
    """(repository, level) pairs the team is granted."""
    team = get_team(actor, org_name, team_name)
    rows = db.session.execute(
        select(Repository, RepositoryTeamAccess.level)
        .join(RepositoryTeamAccess, RepositoryTeamAccess.repository_id == Repository.id)
        .where(RepositoryTeamAccess.team_id == team.id, access.visible_repositories(actor))
        .order_by(Repository.name)
    )
    return [(repository, level) for repository, level in rows]


def list_organizations(actor) -> list[Account]:
    """Organizations the caller sees: all for admins, else those they are a member of."""
    require_logged_in(actor)
    query = select(Account).where(Account.is_org).order_by(Account.name)
    if not access.is_admin(actor):
        query = query.where(
            Account.id.in_(
                select(Team.organization_id)
                .join(TeamMember, TeamMember.team_id == Team.id)
                .where(TeamMember.account_id == actor.account_id)
            )
        )
    return list(db.session.scalars(query))


def organization_members(actor, org_name):
    """(user, [team names]) of everyone in a team of the organization, by name."""
    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=False)
    rows = db.session.execute(
        select(Account, Team.name)
        .join(TeamMember, TeamMember.account_id == Account.id)
        .join(Team, Team.id == TeamMember.team_id)
        .where(Team.organization_id == organization.id)
        .order_by(Account.name, Team.name)
    )
    members: dict[str, tuple[Account, list[str]]] = {}
    for account, team_name in rows:
        members.setdefault(account.name, (account, []))[1].append(team_name)
    return list(members.values())


def team_counts(actor, org_name) -> dict[str, int]:
    """team name -> number of members."""
    organization = organization_or_404(org_name)
    authorize_organization(actor, organization, administer=False)
    rows = db.session.execute(
        select(Team.name, func.count(TeamMember.account_id))
        .outerjoin(TeamMember, TeamMember.team_id == Team.id)
        .where(Team.organization_id == organization.id)
        .group_by(Team.name)
    )
    return dict(rows.all())
