"""Repositories: the searchable list, a repository with its tags (paged, sorted, filtered;
several deleted at once after a confirmation), creation, settings."""

from dataclasses import dataclass

from flask import abort, flash, request

from .. import access
from ..errors import DomainError, ManifestUnknown, NameInvalid
from ..markdown_rendering import render_markdown
from ..models import ACCESS_LEVELS
from ..services import (
    deletion,
    grants,
    immutable_tags,
    replication_rules,
    repositories,
    retention,
    storage_usage,
    tag_restore,
)
from ..services.tag_details import (
    DEFAULT_SORT,
    MAX_QUERY,
    SORTS,
    deletion_preview,
    pull_reference,
    tag_page,
)
from ..services.trusted_keys import list_repository_keys
from ..services.webhooks import Scope
from .addresses import registry_address
from .rendering import FormError, LoginRequired, current_identity, form_error, go, htmx_target, page

PAGE_SIZE = 50


def logged_in():
    identity = current_identity()
    if identity.anonymous:
        raise LoginRequired()
    return identity


def page_number(raw=None):
    raw = request.args.get("page", "1") if raw is None else raw
    return int(raw) if raw.isascii() and raw.isdecimal() and 0 < int(raw) < 10**6 else 1


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


NEW_REPOSITORY_FIELDS = ("namespace", "name", "shortDescription", "visibility")
SETTINGS_FIELDS = ("shortDescription", "longDescription", "visibility", "pullOnlySigned")


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
            error = form_error(failure, "new-repository", NEW_REPOSITORY_FIELDS, default="name")
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
    return _repository_page(me, found, full_name, TagView.of(request.args))


@dataclass(frozen=True)
class TagView:
    """Which tags the repository page shows: a page number, a sort order, a filter text; in
    the address (GET) and carried by the deletion forms (POST), so a page comes back as it
    was left."""

    page: int = 1
    sort: str = DEFAULT_SORT
    query: str = ""

    @classmethod
    def of(cls, values):
        sort = values.get("sort", DEFAULT_SORT)
        return cls(
            page=page_number(values.get("page", "1")),
            sort=sort if sort in SORTS else DEFAULT_SORT,
            query=values.get("q", "").strip()[:MAX_QUERY],
        )

    def address(self, **changes) -> dict:
        """The query values of the page's address, with `changes` (defaults left out)."""
        values = {"page": self.page, "sort": self.sort, "q": self.query, **changes}
        defaults = {"page": 1, "sort": DEFAULT_SORT, "q": ""}
        return {key: value for key, value in values.items() if value != defaults[key]}


def _repository_page(
    me, found, full_name, view, status=200, confirmation=None, error=None, selected=()
):
    """The repository with a page of its tags; maybe a deletion to confirm (a
    DeletionPreview, its tags `selected`) or a refusal (`error`) above them."""

    def tags_of(number):
        start = (number - 1) * PAGE_SIZE
        return tag_page(found, start, PAGE_SIZE, sort=view.sort, query=view.query or None)

    number = view.page
    tags, total = tags_of(number)
    pages = max(1, -(-total // PAGE_SIZE))
    if number > pages:  # past the end (tags deleted meanwhile): the last page
        number = pages
        tags, total = tags_of(number)
    view = TagView(number, view.sort, view.query)
    allowed = access.allowed_actions(me, found)
    context = dict(
        repository=found,
        full_name=full_name,
        namespace=full_name.split("/")[0],
        description=render_markdown(found.long_description),
        tags=tags,
        total=total,
        view=view,
        sort_options=SORT_OPTIONS,
        pages=max(1, -(-total // PAGE_SIZE)),
        may_delete=access.DELETE in allowed,
        may_admin=access.ADMIN in allowed,
        pull=pull_reference(found),
        host=registry_address(),
        confirmation=confirmation,
        error=error,
        selected=selected,
    )
    if htmx_target() == "tag-results":
        return page("repositories/_tags.html", status, **context)
    context["used_bytes"] = storage_usage.repository_usage(found.id)
    context["mirror_rule"] = replication_rules.mirror_rule(found)
    context["sees_rules"] = access.is_admin(me)
    context["deleted_tags"] = tag_restore.deleted_of(found.id) if access.PUSH in allowed else []
    context["restore_days"] = tag_restore.window().days
    return page("repositories/repository.html", status, **context)


SORT_OPTIONS = [
    ("name", "Name A–Z"),
    ("-name", "Name Z–A"),
    ("-pushed", "Newest first"),
    ("pushed", "Oldest first"),
]
MAX_SELECTED = 200


def delete_tags(namespace, name):
    """Delete the tags chosen on the repository page (ticked, or one trash icon): first the
    page again with what the deletion removes, to confirm; once confirmed, each tag is soft
    deleted (services/deletion.py) and the page says what was done."""
    me = logged_in()
    full_name = f"{namespace}/{name}"
    found = repositories.visible_repository(me, full_name, access.DELETE)
    form = request.form
    view = TagView.of(form)
    only = form.get("only")
    chosen = list(dict.fromkeys(tag for tag in ([only] if only else form.getlist("tag")) if tag))
    refusal = None
    if not chosen:
        refusal = "Nothing was deleted: tick the tags to delete first."
    elif len(chosen) > MAX_SELECTED:
        refusal = f"Nothing was deleted: at most {MAX_SELECTED} tags at a time."
    if refusal:
        return _repository_page(me, found, full_name, view, 400, error=refusal)
    if form.get("confirmed") != "yes":
        preview = deletion_preview(found, chosen)
        if not preview.images:
            gone = ", ".join(preview.missing)
            message = f"Nothing was deleted: {full_name} has no tag {gone} (deleted meanwhile?)."
            return _repository_page(me, found, full_name, view, 404, error=message)
        return _repository_page(
            me, found, full_name, view, confirmation=preview, selected=preview.tags
        )
    deleted, missing = [], []
    for tag in chosen:
        try:
            deletion.soft_delete_tag(me, full_name, tag)
            deleted.append(tag)
        except (ManifestUnknown, NameInvalid):
            missing.append(tag)
    if missing:
        flash(
            f"Not deleted, {full_name} has no tag {', '.join(missing)} (deleted meanwhile?).",
            "error",
        )
    message = None
    if deleted:
        noun = "tag" if len(deleted) == 1 else f"{len(deleted)} tags"
        message = f"Deleted {noun} {', '.join(sorted(deleted))} from {full_name}."
    return go("web.repository", message, namespace=namespace, name=name, **view.address())


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
            error = form_error(failure, "repository-settings", SETTINGS_FIELDS)
    return settings_page(me, found, full_name, error)


def settings_page(me, found, full_name, error=None, status=None, typed=None, **extra):
    """The repository's settings; `typed`: what a refused form sent, to show again; `extra`:
    more for the template (a new webhook's secret)."""

    namespace = full_name.split("/")[0]
    from ..services.teams import list_teams
    from .retention_pages import retention_view
    from .webhook_pages import webhook_form_context

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
        immutable_rules=immutable_tags.list_repository_rules(me, full_name),
        retention=retention_view(
            retention.Scope(found.namespace_id, found.id, full_name),
            {"namespace": namespace, "name": found.name},
            typed or {},
        ),
        **webhook_form_context(
            Scope(found.namespace_id, found.id, full_name),
            {"namespace": namespace, "name": found.name},
        ),
        error=error,
        typed=typed or {},
        **extra,
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
        if action == "grant":  # beside the name typed (or the team chosen)
            error = form_error(failure, f"grant-{kind}", ("grantee", "level"), default="grantee")
        else:
            error = form_error(failure)
        return settings_page(me, found, full_name, error, typed=form)
    done = "granted to" if action == "grant" else "revoked from"
    return go(
        "web.repository_settings",
        f"Access {done} {kind} {grantee}.",
        namespace=namespace,
        name=name,
    )


def restore_tag(namespace, name, deleted):
    """Put a deleted tag back (push access); a refusal is shown at the top of the page."""
    me = logged_in()
    repositories.visible_repository(me, f"{namespace}/{name}", access.PUSH)  # else 404/403
    try:
        tag, _ = tag_restore.restore(me, f"{namespace}/{name}", deleted)
    except DomainError as failure:
        return go("web.repository", failure.message, "error", namespace=namespace, name=name)
    return go("web.repository", f"Tag {tag} restored.", namespace=namespace, name=name)


def delete_repository(namespace, name):
    me = logged_in()
    full_name = f"{namespace}/{name}"
    found = repositories.visible_repository(me, full_name, access.ADMIN)
    if request.form.get("confirm", "").strip() != full_name:
        error = FormError(
            f"Type {full_name} to confirm the deletion.", "delete-repository", "confirm"
        )
        return settings_page(me, found, full_name, error, status=400)
    repositories.delete_repository(me, full_name)
    return go("web.repositories", f"Repository {full_name} deleted.")
