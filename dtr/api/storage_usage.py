"""Storage used by a repository, a namespace and the registry; namespace quotas
(services/storage_usage.py)."""

from ..errors import InvalidInput
from ..services import storage_usage
from ..services.field_checks import refuse_unknown_fields
from .common import caller, json_body


def _namespace_body(account, used):
    return {
        "namespace": account.name,
        "usedBytes": used,
        "quotaBytes": account.quota_bytes,
        "warningPercent": account.quota_warning_percent,
    }


def repository_usage(namespace, repo):
    repository, used = storage_usage.usage_of_repository(caller(), f"{namespace}/{repo}")
    return {"repository": f"{namespace}/{repo}", "usedBytes": used}


def namespace_usage(namespace):
    return _namespace_body(*storage_usage.usage_of_namespace(caller(), namespace))


def set_quota(namespace):
    identity, body = caller(), json_body()
    refuse_unknown_fields(body, {"quotaBytes", "warningPercent"}, "not a field of a quota")
    if "quotaBytes" not in body:
        raise InvalidInput("quotaBytes: required (null: no limit)", {"field": "quotaBytes"})
    account = storage_usage.set_quota(
        identity, namespace, body["quotaBytes"], body.get("warningPercent")
    )
    return _namespace_body(account, storage_usage.namespace_usage(account.id))


def registry_usage():
    return {"usedBytes": storage_usage.registry_usage(caller())}
