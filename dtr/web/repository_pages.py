"""Repositories: the searchable list, a repository with its tags, creation, settings."""

from flask import abort, request

from .. import access
from ..errors import DomainError
from ..markdown_rendering import render_markdown
from ..models import ACCESS_LEVELS
from ..services import grants, repositories
from ..services.tag_details import tag_page
from ..services.trusted_keys import list_repository_keys
from .addresses import registry_address
from .rendering import LoginRequired, current_identity, go, htmx_target, page

PAGE_SIZE = 50


def logged_in():
    identity = current_identity()
    if identity.anonymous:
        raise LoginRequired()
    return identity


def page_number():
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdecimal() and 0 < int(raw) < 10**6 else 1


def repository_list():
    me = logged_in()
    query = request.args.get("q", "").strip()[:200]
    number = page_number()
    found, total = repositories.list_repositories(
        me, start=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE, query=query or None
    )
    context = dict(
        repositories=found,
        total=total,
        query=query,
        page_number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        host=registry_address(),
    )
    if htmx_target() == "repository-results":
        return page("repositories/_results.html", **context)
    return page("repositories/list.html", **context)


def new_repository():
    me = logged_in()
    namespaces = repositories.creatable_namespaces(me)
    error = None
    form = request.form
    if request.method == "POST":
        full_name = f"{form.get('namespace', '')}/{form.get('name', '').strip()}"
        try:
            repositories.create_repository(
                me,
                full_name,
                public=form.get("visibility") == "public",
                short_description=form.get("shortDescription", ""),
            )
            namespace, name = full_name.split("/")
            return go(
                "web.repository", f"Repository {full_name} created.", namespace=namespace, name=name
            )
        except DomainError as failure:
            error = failure.message
    chosen = request.values.get("namespace") or me.name
    return page(
        "repositories/new.html",
        400 if error else 200,
        namespaces=namespaces,
        chosen=chosen,
        form=form,
        error=error,
    )


def repository(namespace, name):
    me = logged_in()
    full_name = f"{namespace}/{name}"
    found = repositories.visible_repository(me, full_name)
    number = page_number()
    tags, total = tag_page(found, start=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    allowed = access.allowed_actions(me, found)
    return page(
        "repositories/repository.html",
        repository=found,
        full_name=full_name,
        namespace=namespace,
        description=render_markdown(found.long_description),
        tags=tags,
        total=total,
        page_number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        may_delete=access.DELETE in allowed,
        may_admin=access.ADMIN in allowed,
        host=registry_address(),
    )


def delete_tag(namespace, name, tag):
    """The trash icon: soft delete; the row disappears, the repository stays."""
    from ..services import deletion

    me = logged_in()
    deletion.soft_delete_tag(me, f"{namespace}/{name}", tag)
    if htmx_target():
        return "", 200  # the row is swapped for nothing
    return go("web.repository", f"Tag {tag} deleted.", namespace=namespace, name=name)


def repository_settings(namespace, name):
    me = logged_in()
    full_name = f"{namespace}/{name}"
    found = repositories.visible_repository(me, full_name, access.ADMIN)
    error = None
    if request.method == "POST":
        form = request.form
        try:
            repositories.update_repository(
                me,
                full_name,
                {
                    "visibility": form.get("visibility", found.visibility),
                    "shortDescription": form.get("shortDescription", ""),
                    "longDescription": form.get("longDescription", ""),
                    "pullOnlySigned": form.get("pullOnlySigned") == "on",
                },
            )
            return go("web.repository_settings", "Settings saved.", namespace=namespace, name=name)
        except DomainError as failure:
            error = failure.message
    return _settings_page(me, found, full_name, error)


def _settings_page(me, found, full_name, error=None, status=None):
    namespace = full_name.split("/")[0]
    from ..services.teams import list_teams

    is_org_repository = _is_organization(namespace)
    team_access = user_access = teams = []
    if is_org_repository:
        team_access = grants.list_repository_team_access(me, full_name)
        teams = [team.name for team in list_teams(me, namespace)]
    else:
        user_access = grants.list_repository_user_access(me, full_name)
    return page(
        "repositories/settings.html",
        status or (400 if error else 200),
        repository=found,
        full_name=full_name,
        namespace=namespace,
        team_access=team_access,
        user_access=user_access,
        teams=teams,
        levels=ACCESS_LEVELS,
        is_org_repository=is_org_repository,
        trusted_keys=list_repository_keys(me, full_name),
        error=error,
    )


def _is_organization(namespace):
    from ..services.accounts import find_account

    account = find_account(namespace)
    return account is not None and account.is_org


def change_access(namespace, name):
    """Grant or revoke a team's or a user's access to the repository."""
    me = logged_in()
    full_name = f"{namespace}/{name}"
    form = request.form
    kind, grantee, action = form.get("kind"), form.get("grantee", "").strip(), form.get("action")
    operations = {
        ("team", "grant"): lambda: grants.set_repository_team_access(
            me, full_name, grantee, form.get("level", "")
        ),
        ("team", "revoke"): lambda: grants.revoke_repository_team_access(me, full_name, grantee),
        ("user", "grant"): lambda: grants.set_repository_user_access(
            me, full_name, grantee, form.get("level", "")
        ),
        ("user", "revoke"): lambda: grants.revoke_repository_user_access(me, full_name, grantee),
    }
    operation = operations.get((kind, action))
    if operation is None or not grantee:
        abort(400)
    try:
        operation()
    except DomainError as failure:
        found = repositories.visible_repository(me, full_name, access.ADMIN)
        return _settings_page(me, found, full_name, failure.message)
    done = "granted to" if action == "grant" else "revoked from"
    return go(
        "web.repository_settings",
        f"Access {done} {kind} {grantee}.",
        namespace=namespace,
        name=name,
    )


def delete_repository(namespace, name):
    me = logged_in()
    full_name = f"{namespace}/{name}"
    found = repositories.visible_repository(me, full_name, access.ADMIN)
    if request.form.get("confirm", "").strip() != full_name:
        return _settings_page(
            me, found, full_name, f"Type {full_name} to confirm the deletion.", status=400
        )
    repositories.delete_repository(me, full_name)
    return go("web.repositories", f"Repository {full_name} deleted.")
