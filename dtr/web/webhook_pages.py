"""Webhooks in the portal: a repository's (its Settings > Webhooks, for its admins) and the
registry's (Settings > Webhooks, for administrators). Add one (its secret shown once), and
per webhook a page with its deliveries (redeliver one), Test, enable/disable and delete; as
the API (services/webhooks.py).

The same views serve both places: a repository's are given its `namespace` and `name` in
the path, the registry's nothing; their endpoints differ by a prefix (`registry_`)."""

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
REGISTRY = "registry_"  # the endpoint prefix of the registry's webhook pages


def _scope(path):
    me = logged_in()
    if path:
        return me, Scope.of_repository(me, f"{path['namespace']}/{path['name']}")
    return me, Scope.of_registry(me)


def _prefix(path) -> str:
    return "" if path else REGISTRY


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
    if not path:
        return registry_tab(me, **context)
    found = repositories.visible_repository(me, scope.target, access.ADMIN)
    return settings_page(me, found, scope.target, **context)


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
    if path:
        back = url_for("web.repository_settings", **path)
    else:
        back = url_for("web.settings_tab", tab="webhooks")
    return no_store(shown, back)


def webhook_page(webhook, **path):
    me, scope = _scope(path)
    hook = scope.webhook(webhook)
    number = page_number()
    start = (number - 1) * DELIVERIES_PER_PAGE
    rows, total = webhooks.deliveries(scope, webhook, start, DELIVERIES_PER_PAGE)
    return page(
        "webhook.html",
        200,
        full_name=scope.target if path else None,
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
    if path:
        return go("web.repository_settings", "Webhook deleted.", **path)
    return go("web.settings_tab", "Webhook deleted.", tab="webhooks")
