"""Repository settings > Immutable tags: add a rule (a tag pattern) or delete one of the
repository's own; the namespace's rules are listed beside them (changed through the API)."""

from flask import request

from .. import access
from ..errors import DomainError
from ..services import immutable_tags, repositories
from .credential_forms import refusal_status
from .rendering import form_error, go
from .repository_pages import logged_in, settings_page

FORM = "immutable-rule"


def add_rule(namespace, name):
    me, full_name = logged_in(), f"{namespace}/{name}"
    pattern = request.form.get("pattern", "").strip()
    try:
        immutable_tags.add_repository_rule(me, full_name, pattern)
    except DomainError as failure:
        found = repositories.visible_repository(me, full_name, access.ADMIN)  # else its page
        error = form_error(failure, FORM, ("pattern",), default="pattern")
        typed = {"pattern": pattern}
        return settings_page(me, found, full_name, error, refusal_status(failure), typed)
    return go(
        "web.repository_settings",
        f"Tags matching {pattern} are immutable.",
        namespace=namespace,
        name=name,
    )


def delete_rule(namespace, name, rule):
    me = logged_in()
    immutable_tags.delete_repository_rule(me, f"{namespace}/{name}", rule)
    return go("web.repository_settings", "Rule deleted.", namespace=namespace, name=name)
