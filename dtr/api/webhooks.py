"""Webhooks of a repository, a namespace or the registry, their deliveries, redelivery and the Test
button's delivery (services/webhooks.py)."""

from ..services import webhooks
from ..services.webhooks import Scope
from . import serialize
from .common import caller, json_body, listing, page, scoped_routes


def _views(scope_of):
    """The views of one kind of scope; `scope_of(**path)` resolves it from the path."""

    def list_webhooks(**path):
        hooks = scope_of(**path).webhooks()
        return {"webhooks": [serialize.webhook(hook) for hook in hooks]}

    def create_webhook(**path):
        scope, body = scope_of(**path), json_body()
        hook, secret = webhooks.create(caller(), scope, body)
        return serialize.webhook(hook) | {"secret": secret}, 201

    def get_webhook(webhook, **path):
        return serialize.webhook(scope_of(**path).webhook(webhook))

    def update_webhook(webhook, **path):
        scope, body = scope_of(**path), json_body()
        return serialize.webhook(webhooks.update(caller(), scope, webhook, body))

    def delete_webhook(webhook, **path):
        webhooks.remove(caller(), scope_of(**path), webhook)
        return "", 204

    def list_deliveries(webhook, **path):
        scope, (start, limit) = scope_of(**path), page()
        rows, total = webhooks.deliveries(scope, webhook, start, limit)
        items = [serialize.webhook_delivery(d, attempts) for d, attempts in rows]
        return listing("deliveries", items, total, start, limit)

    def redeliver(webhook, delivery, **path):
        again = webhooks.redeliver(caller(), scope_of(**path), webhook, delivery)
        return serialize.webhook_delivery(again, []), 202

    def test_webhook(webhook, **path):
        queued = webhooks.queue_test(caller(), scope_of(**path), webhook)
        return serialize.webhook_delivery(queued, []), 202

    return [
        ("", list_webhooks, "GET"),
        ("", create_webhook, "POST"),
        ("/<webhook>", get_webhook, "GET"),
        ("/<webhook>", update_webhook, "PATCH"),
        ("/<webhook>", delete_webhook, "DELETE"),
        ("/<webhook>/deliveries", list_deliveries, "GET"),
        ("/<webhook>/deliveries/<delivery>/redeliver", redeliver, "POST"),
        ("/<webhook>/test", test_webhook, "POST"),
    ]


def routes(repository_prefix, namespace_prefix, registry_prefix):
    """(rule, endpoint, view, method) of every route under the three prefixes."""
    return scoped_routes(
        "webhooks", _views, Scope, repository_prefix, namespace_prefix, registry_prefix
    )
