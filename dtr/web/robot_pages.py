"""Organization > Robot accounts (its owners and admins): the list, a form to make one (its
secret shown once, in the answer), and per robot: enable/disable, a new secret, its access
and description, delete."""

from datetime import timedelta

from flask import request, url_for

from ..errors import DomainError
from ..models import utcnow
from ..services import repositories, robots
from ..services.credential_rules import DEFAULT_TOKEN_DAYS, token_max_days
from .addresses import registry_address
from .credential_forms import no_store, refusal_status, whole_number
from .navigation import EXPIRING_DAYS
from .organization_pages import organization_page, owner_of
from .rendering import form_error, go, page

ACTIONS = {"pull": ["pull"], "pull,push": ["pull", "push"]}
REPOSITORY_FIELD = "repository:"  # + the repository's name: its actions in the access form
CHOOSER_LIMIT = 200  # repositories listed in the access form
FIELDS = ("name", "description", "expiresInDays", "access")


def robots_tab(me, org, error=None, form=None, secret_robot=None, secret=None):
    """What the organization page's Robot accounts tab shows."""
    listed = robots.list_robots(me, org)
    maximum = token_max_days()
    now = utcnow()
    chooser = _chooser(me, org, access_from_form(org, form) if form else None)
    return dict(
        robots=[(r, robots.full_name(r), robots.describe_access(r)) for r in listed],
        now=now,
        soon=now + timedelta(days=EXPIRING_DAYS),
        maximum=maximum,
        default_days=min(DEFAULT_TOKEN_DAYS, maximum),
        form=form or {},
        error=error,
        secret_login=robots.full_name(secret_robot) if secret_robot else None,
        secret=secret,
        host=registry_address(),
        **chooser,
    )


def _robots_page(me, org, status=200, **extra):
    return organization_page(me, org, "robots", status, **extra)


def _tab_url(org):
    return url_for("web.organization", org=org, tab="robots")


def create_robot(org):
    me = owner_of(org)
    form = request.form
    name = form.get("name", "").strip()
    try:
        robot, secret = robots.create_robot(
            me,
            org,
            name,
            form.get("description", ""),
            whole_number(form.get("expiresInDays")),
            access_from_form(org, form),
        )
    except DomainError as failure:
        error = form_error(failure, "new-robot", FIELDS)
        return _robots_page(me, org, refusal_status(failure), error=error, form=form)
    return no_store(_robots_page(me, org, secret_robot=robot, secret=secret), _tab_url(org))


def robot_page(org, robot):
    """One robot: its facts, and a form to change its description and access."""
    me = owner_of(org)
    found = robots.get_robot(me, org, robot)
    stored = robots.describe_access(found)
    form = request.form if request.method == "POST" else None
    error, status = None, 200
    if form is not None:
        changes = {
            "description": form.get("description", ""),
            "access": access_from_form(org, form),
        }
        try:
            robots.update_robot(me, org, robot, changes)
            return go(
                "web.organization", f"Robot {robots.full_name(found)} saved.", org=org, tab="robots"
            )
        except DomainError as failure:
            error = form_error(failure, "robot-access", FIELDS)
            status = refusal_status(failure)
    now = utcnow()
    return page(
        "organizations/robot.html",
        status,
        organization=found.organization,
        robot=found,
        login=robots.full_name(found),
        access=stored,
        description=form.get("description", "") if form else found.description,
        now=now,
        soon=now + timedelta(days=EXPIRING_DAYS),
        error=error,
        **_chooser(me, org, access_from_form(org, form) if form else stored),
    )


def robot_state(org, robot):
    me = owner_of(org)
    enabled = request.form.get("enabled") == "true"
    try:
        found = robots.update_robot(me, org, robot, {"enabled": enabled})
    except DomainError as failure:
        return _robots_page(me, org, refusal_status(failure), error=form_error(failure))
    state = "enabled" if enabled else "disabled: it cannot log in until it is enabled again"
    return go(
        "web.organization", f"Robot {robots.full_name(found)} {state}.", org=org, tab="robots"
    )


def regenerate_secret(org, robot):
    me = owner_of(org)
    try:
        found, secret = robots.regenerate_secret(me, org, robot)
    except DomainError as failure:
        return _robots_page(me, org, refusal_status(failure), error=form_error(failure))
    return no_store(_robots_page(me, org, secret_robot=found, secret=secret), _tab_url(org))


def delete_robot(org, robot):
    me = owner_of(org)
    try:
        login = robots.full_name(robots.get_robot(me, org, robot))
        robots.delete_robot(me, org, robot)
    except DomainError as failure:
        return _robots_page(me, org, refusal_status(failure), error=form_error(failure))
    return go("web.organization", f"Robot {login} deleted.", org=org, tab="robots")


# --- the access form ------------------------------------------------------------------------


def access_from_form(org, form) -> list[dict]:
    """The access list of the form: every repository of the organization (scope=namespace),
    or the repositories given an action; an unknown action goes on to be refused."""
    if form.get("scope") == "namespace":
        actions = form.get("namespaceActions", "pull")
        return [{"namespace": org, "actions": ACTIONS.get(actions, [actions])}]
    entries = []
    for field, actions in form.items(multi=True):
        if field.startswith(REPOSITORY_FIELD) and actions:
            name = field[len(REPOSITORY_FIELD) :]
            entries.append(
                {"repository": f"{org}/{name}", "actions": ACTIONS.get(actions, [actions])}
            )
    return entries


def _chooser(me, org, access):
    """The access form's choices: the organization's repositories (the first
    CHOOSER_LIMIT, and any the access names) and what `access` chose."""
    listed, total = repositories.list_repositories(me, namespace=org, limit=CHOOSER_LIMIT)
    chosen, scope, namespace_actions = {}, "repositories", "pull"
    for entry in access or []:
        actions = ",".join(entry["actions"])
        if "namespace" in entry:
            scope, namespace_actions = "namespace", actions
        else:
            chosen[entry["repository"].partition("/")[2]] = actions
    names = sorted({repository.name for repository in listed} | set(chosen))
    return dict(
        repository_names=names,
        more_repositories=max(0, total - len(listed)),
        chosen=chosen,
        scope=scope,
        namespace_actions=namespace_actions,
    )
