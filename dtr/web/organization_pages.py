"""Organizations, their teams and members, and the repositories teams are granted."""

from flask import request

from .. import access
from ..errors import DomainError
from ..models import ACCESS_LEVELS
from ..services import grants, repositories, teams
from ..services.accounts import create_organization
from ..services.callers import require_admin
from ..services.search import search_accounts
from .rendering import go, htmx_target, page
from .repository_pages import PAGE_SIZE, logged_in, page_number

TABS = ("repositories", "teams", "members", "robots")


def organization_list():
    me = logged_in()
    return page("organizations/list.html", organizations=teams.list_organizations(me))


def new_organization():
    me = logged_in()
    require_admin(me, "create organizations")
    error = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        try:
            create_organization(name, me)
            return go("web.organization", f"Organization {name} created.", org=name)
        except DomainError as failure:
            error = failure.message
    return page("organizations/new.html", 400 if error else 200, error=error, form=request.form)


def organization(org):
    me = logged_in()
    return organization_page(me, org, request.args.get("tab", "repositories"))


def organization_page(me, org, tab, status=200, **extra):
    """The organization with one of its tabs; `extra`: what the robots tab shows after a
    change (an error, a new secret)."""
    found = teams.organization_or_404(org)
    may_see_members = access.may_see_organization_members(me, found.id)
    may_administer = access.may_administer_organization(me, found.id)
    if (
        tab not in TABS
        or (tab != "repositories" and not may_see_members)
        or (tab == "robots" and not may_administer)
    ):
        tab = "repositories"
    context = dict(
        organization=found,
        tab=tab,
        may_see_members=may_see_members,
        may_administer=may_administer,
        may_create=access.may_create_repository(me, found.id),
    )
    if tab == "repositories":
        number = page_number()
        listed, total = repositories.list_repositories(
            me, namespace=org, start=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        if not listed and not may_see_members and me.role != "admin":
            teams.authorize_organization(me, found, administer=False)  # nothing to show: 403
        context.update(
            repositories=listed,
            total=total,
            page_number=number,
            pages=max(1, -(-total // PAGE_SIZE)),
        )
    elif tab == "teams":
        context.update(teams=teams.list_teams(me, org), counts=teams.team_counts(me, org))
    elif tab == "members":
        context.update(members=teams.organization_members(me, org))
    else:
        from .robot_pages import robots_tab

        context.update(robots_tab(me, org, **extra))
    return page("organizations/organization.html", status, **context)


def owner_of(org):
    """The logged-in caller, if they administer the organization (else Denied: 403)."""
    me = logged_in()
    teams.authorize_organization(me, teams.organization_or_404(org), administer=True)
    return me


def new_team(org):
    me = owner_of(org)
    found = teams.organization_or_404(org)
    error = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        try:
            teams.create_team(me, org, name, request.form.get("description", ""))
            return go("web.team", f"Team {name} created. Add its members.", org=org, team=name)
        except DomainError as failure:
            error = failure.message
    return page(
        "organizations/new_team.html",
        400 if error else 200,
        organization=found,
        error=error,
        form=request.form,
    )


def team(org, team):
    me = logged_in()
    found = teams.get_team(me, org, team)
    organization = teams.organization_or_404(org)
    return page(
        "organizations/team.html",
        organization=organization,
        team=found,
        members=teams.list_members(me, org, team),
        granted=teams.team_repository_access(me, org, team),
        may_administer=access.may_administer_organization(me, organization.id),
        may_create=access.may_create_repository(me, organization.id),
        levels=ACCESS_LEVELS,
        error=None,
    )


def user_search(org, team):
    """The searchable list of users beside Add members (an HTMX fragment)."""
    me = logged_in()
    members = {member.name for member in teams.list_members(me, org, team)}
    query = request.args.get("q", "").strip()[:100]
    found = [a for a in search_accounts(me, query, 20) if not a.is_org] if query else []
    return page(
        "organizations/_user_results.html",
        org=org,
        team=team,
        users=found,
        members=members,
        query=query,
    )


def change_member(org, team):
    me = owner_of(org)
    name = request.form.get("member", "").strip()
    action = request.form.get("action")
    try:
        if action == "add":
            teams.add_member(me, org, team, name)
            message = f"{name} added to {team}."
        elif action == "remove":
            teams.remove_member(me, org, team, name)
            message = f"{name} removed from {team}."
        else:
            raise DomainError("unknown action")
    except DomainError as failure:
        return go("web.team", failure.message, "error", org=org, team=team)
    if htmx_target() == "members":
        return page(
            "organizations/_members.html",
            organization=teams.organization_or_404(org),
            team=teams.get_team(me, org, team),
            members=teams.list_members(me, org, team),
            may_administer=True,
            message=message,
        )
    return go("web.team", message, org=org, team=team)


def add_repository(org, team):
    """Add repository: a new one created for the team, or an existing one, with a level."""
    me = owner_of(org)
    form = request.form
    name = form.get("name", "").strip()
    full_name = f"{org}/{name}"
    level = form.get("level", "")
    try:
        if level not in ACCESS_LEVELS:
            raise DomainError(f"choose one of {', '.join(ACCESS_LEVELS)}")
        if form.get("mode") == "new":
            repositories.create_repository(
                me,
                full_name,
                public=form.get("visibility") == "public",
                short_description=form.get("shortDescription", ""),
            )
        grants.set_repository_team_access(me, full_name, team, level)
    except DomainError as failure:
        return go("web.team", failure.message, "error", org=org, team=team)
    return go("web.team", f"{team} has {level} access to {full_name}.", org=org, team=team)


def revoke_repository(org, team):
    me = owner_of(org)
    full_name = f"{org}/{request.form.get('name', '')}"
    try:
        grants.revoke_repository_team_access(me, full_name, team)
    except DomainError as failure:
        return go("web.team", failure.message, "error", org=org, team=team)
    return go("web.team", f"Access to {full_name} revoked.", org=org, team=team)
