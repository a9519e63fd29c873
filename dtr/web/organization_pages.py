"""Organizations, their teams and members, and the repositories teams are granted."""

import math

from flask import request

from .. import access
from ..errors import DomainError, InvalidInput
from ..models import ACCESS_LEVELS
from ..services import grants, repositories, storage_usage, teams
from ..services.accounts import create_organization
from ..services.callers import require_admin
from .credential_forms import refusal_status, whole_number
from .rendering import form_error, go, htmx_target, page
from .repository_pages import PAGE_SIZE, logged_in, page_number

TABS = ("repositories", "teams", "members", "robots", "webhooks", "retention")
ADMINISTRATORS_TABS = ("robots", "webhooks", "retention")
NEW_TEAM_FIELDS = {
    "name": "name",
    "team": "name",
    "description": "description",
    "oidcGroup": "oidc_group",
}
ADD_REPOSITORY_FIELDS = {
    "name": "name",
    "shortDescription": "shortDescription",
    "visibility": "visibility",
    "accessLevel": "level",
}
CANDIDATES = 20  # users listed beside Add members


def organization_list():
    me = logged_in()
    return page("organizations/list.html", organizations=teams.list_organizations(me))


def new_organization():
    me = logged_in()
    require_admin(me, "create organizations")
    error, status = None, 200
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        try:
            create_organization(name, me)
            return go("web.organization", f"Organization {name} created.", org=name)
        except DomainError as failure:
            error = form_error(failure, "new-organization", ("name",))
            status = refusal_status(failure)
    return page("organizations/new.html", status, error=error, form=request.form)


def organization(org):
    me = logged_in()
    return organization_page(me, org, request.args.get("tab", "repositories"))


def _typed_quota(organization) -> dict:
    """The quota form's values: the quota in the largest unit it is a whole number of."""
    quota, unit = organization.quota_bytes, "GiB"
    if quota is not None:
        unit = next((u for u, size in reversed(QUOTA_UNITS.items()) if quota % size == 0), None)
        shown = f"{quota // QUOTA_UNITS[unit]}" if unit else f"{quota / 2**20:.2f}"
        unit = unit or "MiB"
    return {
        "quota": "" if quota is None else shown,
        "unit": unit,
        "warningPercent": str(organization.quota_warning_percent),
    }


def organization_page(me, org, tab, status=200, **extra):
    """The organization with one of its tabs; `extra`: what the robots, webhooks or
    retention tab shows after a change (an error, a new secret, what was typed)."""
    found = teams.organization_or_404(org)
    may_see_members = access.may_see_organization_members(me, found.id)
    may_administer = access.may_administer_organization(me, found.id)
    if (
        tab not in TABS
        or (tab != "repositories" and not may_see_members)
        or (tab in ADMINISTRATORS_TABS and not may_administer)
    ):
        tab = "repositories"
    context = dict(
        organization=found,
        tab=tab,
        may_see_members=may_see_members,
        may_administer=may_administer,
        may_create=access.may_create_repository(me, found.id),
        used_bytes=storage_usage.namespace_usage(found.id) if may_administer else None,
        may_set_quota=me.role == "admin",
        quota_units=QUOTA_UNITS,
        quota_error=extra.pop("quota_error", None),
        quota_typed=extra.pop("quota_typed", None) or _typed_quota(found),
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
    elif tab == "webhooks":
        from ..services.webhooks import Scope
        from .webhook_pages import webhook_form_context

        scope = Scope(found.id, None, org)
        context.update(webhook_form_context(scope, {"org": org}), typed={}, error=None)
        context.update(extra)
    elif tab == "retention":
        from ..services.retention import Scope as RetentionScope
        from .retention_pages import retention_view

        typed = extra.get("typed") or {}
        scope = RetentionScope(found.id, None, org)
        context.update(retention=retention_view(scope, {"org": org}, typed))
        context.update(error=extra.get("error"), typed=typed)
    else:
        from .robot_pages import robots_tab

        context.update(robots_tab(me, org, **extra))
    return page("organizations/organization.html", status, **context)


QUOTA_UNITS = {"MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
QUOTA_FORM = "quota"


def set_quota(org):
    """The organization's storage quota (administrators): a number of MiB, GiB or TiB, empty
    for no limit, and the warning threshold; refused values are said beside their field."""
    me = logged_in()
    require_admin(me, "set storage quotas")  # before anything typed is looked at
    form = request.form
    typed = {key: form.get(key, "").strip() for key in ("quota", "unit", "warningPercent")}
    try:
        quota = _quota_bytes(typed["quota"], typed["unit"])
        percent = whole_number(typed["warningPercent"])
        storage_usage.set_quota(me, org, quota, percent)
    except DomainError as failure:
        fields = {"quotaBytes": "quota", "warningPercent": "warningPercent"}
        error = form_error(failure, QUOTA_FORM, fields, default="quota")
        return organization_page(
            me, org, "repositories", refusal_status(failure), quota_error=error, quota_typed=typed
        )
    said = "No quota." if quota is None else f"Quota set: {typed['quota']} {typed['unit']}."
    return go("web.organization", said, org=org)


def _quota_bytes(text, unit):
    """Bytes of a quota typed as a number of `unit`s (None: empty, no limit); InvalidInput
    (of quotaBytes) saying what to type."""
    if not text:
        return None
    if unit not in QUOTA_UNITS:
        raise _quota_refused(f"a unit, one of {', '.join(QUOTA_UNITS)}")
    try:
        amount = float(text)
    except ValueError:
        raise _quota_refused(f"a number of {unit}, such as 50 or 1.5") from None
    if not math.isfinite(amount) or amount < 0:
        raise _quota_refused(f"a number of {unit} from 0, such as 50 or 1.5")
    return round(amount * QUOTA_UNITS[unit]) if amount * QUOTA_UNITS[unit] < 2**63 else 2**63


def _quota_refused(says) -> InvalidInput:
    return InvalidInput(f"quotaBytes: {says}", {"field": "quotaBytes"})


def owner_of(org):
    """The logged-in caller, if they administer the organization (else Denied: 403)."""
    me = logged_in()
    teams.authorize_organization(me, teams.organization_or_404(org), administer=True)
    return me


def new_team(org):
    me = owner_of(org)
    found = teams.organization_or_404(org)
    error, status = None, 200
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        try:
            teams.create_team(
                me,
                org,
                name,
                request.form.get("description", ""),
                oidc_group=request.form.get("oidc_group", "").strip() or None,
            )
            return go("web.team", f"Team {name} created. Add its members.", org=org, team=name)
        except DomainError as failure:
            error = form_error(failure, "new-team", NEW_TEAM_FIELDS)
            status = refusal_status(failure)
    return page(
        "organizations/new_team.html",
        status,
        organization=found,
        error=error,
        form=request.form,
    )


def team(org, team):
    me = logged_in()
    return team_page(me, org, team)


def team_page(me, org, team, status=200, error=None, typed=None, message=None):
    """The team: its members (with Add members for those who administer the organization)
    and its repositories; `error`: a refused form's, `typed`: what it sent, to show again."""
    found = teams.get_team(me, org, team)
    organization = teams.organization_or_404(org)
    may_administer = access.may_administer_organization(me, organization.id)
    return page(
        "organizations/team.html",
        status,
        **_members_context(me, organization, found, may_administer, typed, message),
        granted=teams.team_repository_access(me, org, team),
        may_create=access.may_create_repository(me, organization.id),
        levels=ACCESS_LEVELS,
        error=error,
        typed=typed or {},
    )


def _members_context(me, organization, team, may_administer, typed=None, message=None):
    """What the Members part of the team page shows (also swapped alone after a change):
    the members, and for those who administer: the users to add (the first CANDIDATES, or
    those matching the search typed)."""
    typed = typed or {}
    query = typed.get("q", typed.get("member", "")).strip()[:100]
    adding = may_administer and not team.ldap_group_dn and not team.oidc_group
    return dict(
        organization=organization,
        team=team,
        members=teams.list_members(me, organization.name, team.name),
        may_administer=may_administer,
        adding=adding,
        candidates=_candidates(me, organization.name, team.name, query) if adding else [],
        query=query,
        message=message,
    )


def _candidates(me, org, team, query):
    return teams.member_candidates(me, org, team, query, CANDIDATES)


def user_search(org, team):
    """The users to add, as the search beside Add members is typed (an HTMX fragment)."""
    me = owner_of(org)
    query = request.args.get("member", request.args.get("q", "")).strip()[:100]
    return page(
        "organizations/_user_results.html",
        organization=teams.organization_or_404(org),
        team=teams.get_team(me, org, team),
        candidates=_candidates(me, org, team, query),
        query=query,
    )


def change_member(org, team):
    """Add (the name typed, or a candidate's Add button) or remove a member."""
    me = owner_of(org)
    form = request.form
    name = form.get("member", "").strip()
    action = form.get("action")
    try:
        if action == "add":
            if not teams.add_member(me, org, team, name):
                raise DomainError(f"{name} is already a member of {team}", {"field": "member"})
            message = f"{name} added to {team}."
        elif action == "remove":
            teams.remove_member(me, org, team, name)
            message = f"{name} removed from {team}."
        else:
            raise DomainError("unknown action")
    except DomainError as failure:
        error = form_error(failure, "add-member", {"name": "member"}, default="member")
        if action != "add":
            error = form_error(failure)
        return team_page(me, org, team, refusal_status(failure), error, typed=form)
    if htmx_target() == "members":
        found, organization = teams.get_team(me, org, team), teams.organization_or_404(org)
        typed = {"q": form.get("q", "")}
        context = _members_context(me, organization, found, True, typed, message)
        return page("organizations/_members.html", **context)
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
            choices = ", ".join(ACCESS_LEVELS)
            raise DomainError(f"choose one of {choices}", {"field": "accessLevel"})
        if form.get("mode") == "new":
            repositories.create_repository(
                me,
                full_name,
                public=form.get("visibility") == "public",
                short_description=form.get("shortDescription", ""),
            )
        grants.set_repository_team_access(me, full_name, team, level)
    except DomainError as failure:
        error = form_error(failure, "add-repository", ADD_REPOSITORY_FIELDS)
        return team_page(me, org, team, refusal_status(failure), error, typed=form)
    return go("web.team", f"{team} has {level} access to {full_name}.", org=org, team=team)


def revoke_repository(org, team):
    me = owner_of(org)
    full_name = f"{org}/{request.form.get('name', '')}"
    try:
        grants.revoke_repository_team_access(me, full_name, team)
    except DomainError as failure:
        return team_page(me, org, team, refusal_status(failure), form_error(failure))
    return go("web.team", f"Access to {full_name} revoked.", org=org, team=team)
