"""Retention policies of a repository or a namespace, running them (or a dry run) and their
history (services/retention.py)."""

from ..errors import InvalidInput
from ..services import retention
from ..services.field_checks import refuse_unknown_fields
from ..services.retention import Scope
from . import serialize
from .common import caller, json_body, scoped_routes


def _views(scope_of):
    def get_policy(**path):
        return serialize.retention_policy(scope_of(**path).existing_policy())

    def put_policy(**path):
        scope, body = scope_of(**path), json_body()
        refuse_unknown_fields(body, {"rules", "schedule"}, "not a field of a policy")
        schedule = body.get("schedule", "")
        policy = retention.set_policy(caller(), scope, body.get("rules"), schedule)
        return serialize.retention_policy(policy)

    def delete_policy(**path):
        retention.remove_policy(caller(), scope_of(**path))
        return "", 204

    def run_policy(**path):
        scope, body = scope_of(**path), json_body()
        dry_run = body.get("dryRun", False)
        if not isinstance(dry_run, bool) or set(body) - {"dryRun"}:
            raise InvalidInput("dryRun: true or false", {"field": "dryRun"})
        return serialize.retention_run(retention.run(caller(), scope, dry_run)), 201

    def list_runs(**path):
        runs = retention.history(scope_of(**path))
        return {"runs": [serialize.retention_run(r) for r in runs]}

    return [
        ("", get_policy, "GET"),
        ("", put_policy, "PUT"),
        ("", delete_policy, "DELETE"),
        ("/runs", run_policy, "POST"),
        ("/runs", list_runs, "GET"),
    ]


def routes(repository_prefix, namespace_prefix):
    """(rule, endpoint, view, method) of every route under both prefixes."""
    return scoped_routes("retentionPolicy", _views, Scope, repository_prefix, namespace_prefix)
