"""Repository settings > Webhooks: add one (its secret shown once), and per webhook a page
with its deliveries (redeliver one), Test, enable/disable and delete. For the repository's
admins, as the API (services/webhooks.py)."""

from flask import request, url_for

from .. import access
from ..errors import DomainError
from ..services import repositories, webhooks
from ..services.webhooks import EVENTS, Scope
from .credential_forms import no_store, refusal_status
from .rendering import form_error, go, page
from .repository_pages import logged_in, page_number, settings_page

FORM = "new-webhook"
DELIVERIES_PER_PAGE = 25


def _scope(namespace, name):
    me = logged_in()
    return me, Scope.of_repository(me, f"{namespace}/{name}")


def create_webhook(namespace, name):
    me, scope = _scope(namespace, name)
    form = request.form
    body = {"url": form.get("url", "").strip(), "events": form.getlist("events")}
    if form.get("secret"):
        body["secret"] = form["secret"]
    try:
        hook, secret = webhooks.create(me, scope, body)
    except DomainError as failure:
        found = repositories.visible_repository(me, scope.target, access.ADMIN)
        error = form_error(failure, FORM, ("url", "events", "secret"), default="url")
        typed = {"url": body["url"], "events": body["events"]}
        return settings_page(me, found, scope.target, error, refusal_status(failure), typed)
    found = repositories.visible_repository(me, scope.target, access.ADMIN)
    shown = settings_page(me, found, scope.target, webhook_secret=secret, new_webhook=hook)
    back = url_for("web.repository_settings", namespace=namespace, name=name)
    return no_store(shown, back)


def webhook_page(namespace, name, webhook):
    me, scope = _scope(namespace, name)
    hook = scope.webhook(webhook)
    number = page_number()
    start = (number - 1) * DELIVERIES_PER_PAGE
    rows, total = webhooks.deliveries(scope, webhook, start, DELIVERIES_PER_PAGE)
    return page(
        "repositories/webhook.html",
        200,
        full_name=scope.target,
        namespace=namespace,
        name=name,
        webhook=hook,
        deliveries=rows,
        total=total,
        page_number=number,
        pages=max(1, -(-total // DELIVERIES_PER_PAGE)),
        events=EVENTS,
    )


def _back(namespace, name, webhook, message):
    return go("web.webhook", message, namespace=namespace, name=name, webhook=webhook)


def test_webhook(namespace, name, webhook):
    me, scope = _scope(namespace, name)
    webhooks.queue_test(me, scope, webhook)
    return _back(namespace, name, webhook, "Test event queued: its delivery shows below.")


def change_state(namespace, name, webhook):
    me, scope = _scope(namespace, name)
    enabled = request.form.get("enabled") == "true"
    webhooks.update(me, scope, webhook, {"enabled": enabled})
    return _back(namespace, name, webhook, "Enabled." if enabled else "Disabled.")


def redeliver(namespace, name, webhook, delivery):
    me, scope = _scope(namespace, name)
    again = webhooks.redeliver(me, scope, webhook, delivery)
    return _back(namespace, name, webhook, f"Delivery {delivery} queued again as {again.id}.")


def delete_webhook(namespace, name, webhook):
    me, scope = _scope(namespace, name)
    webhooks.remove(me, scope, webhook)
    return go("web.repository_settings", "Webhook deleted.", namespace=namespace, name=name)
