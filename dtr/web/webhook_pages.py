"""Webhooks in the portal: a repository's (its Settings > Webhooks, for its admins), an
organization's (its Webhooks tab) and the registry's (Settings > Webhooks, for
administrators). Add one (its secret shown once), and per webhook a page with its deliveries
(redeliver one), Test, enable/disable and delete; as the API (services/webhooks.py).

The same views serve the three places: a repository's are given its `namespace` and `name`
in the path, an organization's its `org` (its Webhooks tab, for its administrators), the
registry's nothing; their endpoints differ by a prefix (`organization_`, `registry_`)."""

from flask import request, url_for

from .. import access
from ..errors import DomainError
from ..services import repositories, webhooks
from ..services.webhooks import Scope
from .credential_forms import no_store, refusal_status
from .navigation import settings_tabs
from .rendering import form_error, go, page
from .repository_pages import logged_in, page_number, settings_page

FORM = "new-webhook"
FIELDS = ("url", "events", "secret")
DELIVERIES_PER_PAGE = 25
REGISTRY = "registry_"  # the endpoint prefixes of the registry's and organizations' pages
ORGANIZATION = "organization_"


def _place(path) -> str:
    """Which page the path is of: "repository" (namespace, name), "organization" (org) or
    "registry" (nothing)."""
    if "name" in path:
        return "repository"
    return "organization" if "org" in path else "registry"


def _scope(path):
    me = logged_in()
    place = _place(path)
    if place == "repository":
        return me, Scope.of_repository(me, f"{path['namespace']}/{path['name']}")
    if place == "organization":
        return me, Scope.of_namespace(me, path["org"])
    return me, Scope.of_registry(me)


def _prefix(path) -> str:
    return {"repository": "", "organization": ORGANIZATION}.get(_place(path), REGISTRY)


def webhook_form_context(scope: Scope, path) -> dict:
    """What `_webhooks.html` needs besides the form's error and typed values."""
    return {
        "webhooks": scope.webhooks(),
        "webhook_events": scope.events(),
        "hooks": _prefix(path),
        "hook_path": path,
    }


def registry_tab(me, error=None, status=None, typed=None, **extra):
    """Settings > Webhooks."""
    scope = Scope.of_registry(me)
    return page(
        "settings/webhooks.html",
        status or (400 if error else 200),
        tab="webhooks",
        tabs=settings_tabs(),
        error=error,
        typed=typed or {},
        **webhook_form_context(scope, {}),
        **extra,
    )


def _list_page(me, scope, path, **context):
    place = _place(path)
    if place == "registry":
        return registry_tab(me, **context)
    if place == "organization":
        from .organization_pages import organization_page

        status = context.pop("status", None) or (400 if context.get("error") else 200)
        return organization_page(me, path["org"], "webhooks", status, **context)
    found = repositories.visible_repository(me, scope.target, access.ADMIN)
    return settings_page(me, found, scope.target, **context)


def _list_page_address(path) -> tuple[str, dict]:
    """(endpoint, values) of the page listing the webhooks."""
    place = _place(path)
    if place == "repository":
        return "web.repository_settings", path
    if place == "organization":
        return "web.organization", {"org": path["org"], "tab": "webhooks"}
    return "web.settings_tab", {"tab": "webhooks"}


def create_webhook(**path):
    me, scope = _scope(path)
    form = request.form
    body = {"url": form.get("url", "").strip(), "events": form.getlist("events")}
    if form.get("secret"):
        body["secret"] = form["secret"]
    try:
        hook, secret = webhooks.create(me, scope, body)
    except DomainError as failure:
        error = form_error(failure, FORM, FIELDS, default="url")
        typed = {"url": body["url"], "events": body["events"]}
        return _list_page(me, scope, path, error=error, status=refusal_status(failure), typed=typed)
    shown = _list_page(me, scope, path, webhook_secret=secret, new_webhook=hook)
    endpoint, values = _list_page_address(path)
    return no_store(shown, url_for(endpoint, **values))


def webhook_page(webhook, **path):
    me, scope = _scope(path)
    hook = scope.webhook(webhook)
    number = page_number()
    start = (number - 1) * DELIVERIES_PER_PAGE
    rows, total = webhooks.deliveries(scope, webhook, start, DELIVERIES_PER_PAGE)
    return page(
        "webhook.html",
        200,
        place=_place(path),
        target=scope.target,
        hooks=_prefix(path),
        hook_path=path,
        webhook=hook,
        deliveries=rows,
        total=total,
        page_number=number,
        pages=max(1, -(-total // DELIVERIES_PER_PAGE)),
    )


def _back(path, webhook, message):
    return go(f"web.{_prefix(path)}webhook", message, webhook=webhook, **path)


def test_webhook(webhook, **path):
    me, scope = _scope(path)
    webhooks.queue_test(me, scope, webhook)
    return _back(path, webhook, "Test event queued: its delivery shows below.")


def change_state(webhook, **path):
    me, scope = _scope(path)
    enabled = request.form.get("enabled") == "true"
    webhooks.update(me, scope, webhook, {"enabled": enabled})
    return _back(path, webhook, "Enabled." if enabled else "Disabled.")


def redeliver(webhook, delivery, **path):
    me, scope = _scope(path)
    again = webhooks.redeliver(me, scope, webhook, delivery)
    return _back(path, webhook, f"Delivery {delivery} queued again as {again.id}.")


def delete_webhook(webhook, **path):
    me, scope = _scope(path)
    webhooks.remove(me, scope, webhook)
    endpoint, values = _list_page_address(path)
    return go(endpoint, "Webhook deleted.", **values)
