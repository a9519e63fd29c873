"""The /api/v0 JSON blueprint (DTR's API shape). Every route is listed here; the OpenAPI
document (`openapi.py`) describes each of them, which a test checks."""

from flask import Blueprint, request

from ..errors import DomainError
from ..services import audit
from . import (
    access_tokens,
    accounts,
    admin,
    deleted_tags,
    gc,
    immutable_tags,
    license,
    logs,
    proxy_caches,
    replication,
    repositories,
    retention,
    robots,
    search,
    storage,
    storage_usage,
    storage_verification,
    teams,
    trusted_keys,
    webhooks,
)
from .common import error_response
from .openapi import openapi_document
from .version import version

bp = Blueprint("api", __name__, url_prefix="/api/v0")

A = "/accounts/<name>"
T = "/accounts/<org>/teams/<team>"
R = "/repositories/<namespace>/<repo>"
N = "/repositoryNamespaces/<namespace>"
GC = "/admin/settings/registry/garbageCollection"
ROBOT = "/organizations/<org>/robots/<robot>"
ROUTES = [
    ("/accounts", accounts.list_accounts, "GET"),
    ("/accounts", accounts.create_account, "POST"),
    ("/accounts/import", accounts.import_users, "POST"),
    (A, accounts.get_account, "GET"),
    (A, accounts.update_account, "PATCH"),
    (A, accounts.delete_account, "DELETE"),
    (A + "/activate", accounts.activate, "PUT"),
    (A + "/deactivate", accounts.deactivate, "PUT"),
    (A + "/changePassword", accounts.change_password, "POST"),
    (A + "/organizations", accounts.organizations_of, "GET"),
    (A + "/tokens", access_tokens.list_tokens, "GET"),
    (A + "/tokens", access_tokens.create_token, "POST"),
    (A + "/tokens/<token_id>", access_tokens.revoke_token, "DELETE"),
    ("/organizations/<org>/robots", robots.list_robots, "GET"),
    ("/organizations/<org>/robots", robots.create_robot, "POST"),
    (ROBOT, robots.get_robot, "GET"),
    (ROBOT, robots.update_robot, "PATCH"),
    (ROBOT, robots.delete_robot, "DELETE"),
    (ROBOT + "/secret", robots.regenerate_secret, "POST"),
    ("/accounts/<org>/teams", teams.list_teams, "GET"),
    ("/accounts/<org>/teams", teams.create_team, "POST"),
    (T, teams.get_team, "GET"),
    (T, teams.update_team, "PATCH"),
    (T, teams.delete_team, "DELETE"),
    (T + "/members", teams.list_members, "GET"),
    (T + "/members/<member>", teams.get_member, "GET"),
    (T + "/members/<member>", teams.add_member, "PUT"),
    (T + "/members/<member>", teams.remove_member, "DELETE"),
    (T + "/repositoryAccess", teams.repository_access, "GET"),
    ("/repositories", repositories.list_all, "GET"),
    ("/repositories/<namespace>", repositories.list_namespace, "GET"),
    ("/repositories/<namespace>", repositories.create, "POST"),
    (R, repositories.get, "GET"),
    (R, repositories.update, "PATCH"),
    (R, repositories.delete, "DELETE"),
    (R + "/tags", repositories.tags, "GET"),
    (R + "/tags/<tag>", repositories.delete_tag, "DELETE"),
    (R + "/manifests/<reference>", repositories.delete_manifest, "DELETE"),
    (R + "/teamAccess", repositories.list_team_access, "GET"),
    (R + "/teamAccess/<team>", repositories.set_team_access, "PUT"),
    (R + "/teamAccess/<team>", repositories.revoke_team_access, "DELETE"),
    (R + "/userAccess", repositories.list_user_access, "GET"),
    (R + "/userAccess/<user>", repositories.set_user_access, "PUT"),
    (R + "/userAccess/<user>", repositories.revoke_user_access, "DELETE"),
    (R + "/trustedKeys", trusted_keys.list_repository_keys, "GET"),
    (R + "/trustedKeys", trusted_keys.add_repository_key, "POST"),
    (R + "/trustedKeys/<key>", trusted_keys.delete_repository_key, "DELETE"),
    (R + "/immutableTagRules", immutable_tags.list_repository_rules, "GET"),
    (R + "/immutableTagRules", immutable_tags.add_repository_rule, "POST"),
    (R + "/immutableTagRules/<rule>", immutable_tags.delete_repository_rule, "DELETE"),
    (N + "/immutableTagRules", immutable_tags.list_namespace_rules, "GET"),
    (N + "/immutableTagRules", immutable_tags.add_namespace_rule, "POST"),
    (N + "/immutableTagRules/<rule>", immutable_tags.delete_namespace_rule, "DELETE"),
    ("/repositoryNamespaces/<namespace>/trustedKeys", trusted_keys.list_namespace_keys, "GET"),
    ("/repositoryNamespaces/<namespace>/trustedKeys", trusted_keys.add_namespace_key, "POST"),
    (
        "/repositoryNamespaces/<namespace>/trustedKeys/<key>",
        trusted_keys.delete_namespace_key,
        "DELETE",
    ),
    (
        "/repositoryNamespaces/<namespace>/teamAccess",
        repositories.list_namespace_team_access,
        "GET",
    ),
    (
        "/repositoryNamespaces/<namespace>/teamAccess/<team>",
        repositories.set_namespace_team_access,
        "PUT",
    ),
    (
        "/repositoryNamespaces/<namespace>/teamAccess/<team>",
        repositories.revoke_namespace_team_access,
        "DELETE",
    ),
    ("/admin/settings/auth", admin.get_auth_settings, "GET"),
    ("/admin/settings/auth", admin.put_auth_settings, "PUT"),
    ("/admin/settings/general", admin.get_general_settings, "GET"),
    ("/admin/settings/general", admin.put_general_settings, "PUT"),
    ("/admin/settings/auth/ldap/tryLogin", admin.ldap_try_login, "POST"),
    ("/admin/settings/auth/ldap/sync", admin.ldap_sync, "POST"),
    ("/admin/settings/auth/oidc/test", admin.oidc_test, "POST"),
    ("/admin/settings/storage", storage.get_settings, "GET"),
    ("/admin/settings/storage", storage.put_settings, "PUT"),
    ("/admin/settings/storage/test", storage.test_connection, "POST"),
    ("/admin/storage/verifications", storage_verification.start_verification, "POST"),
    ("/admin/storage/verifications", storage_verification.list_verifications, "GET"),
    ("/admin/storage/verifications/<id>", storage_verification.get_verification, "GET"),
    ("/admin/settings/license", license.get_license, "GET"),
    ("/admin/settings/license", license.put_license, "PUT"),
    ("/admin/audit", admin.audit_log, "GET"),
    ("/admin/logs", logs.get_logs, "GET"),
    ("/admin/jobs", gc.start_job, "POST"),
    ("/admin/jobs", gc.list_jobs, "GET"),
    ("/admin/jobs/<id>", gc.get_job, "GET"),
    (GC, gc.get_settings, "GET"),
    (GC, gc.put_settings, "PUT"),
    (GC + "/schedule", gc.get_schedule, "GET"),
    (GC + "/schedule", gc.set_schedule, "POST"),
    (GC + "/lastSavings", gc.last_savings, "GET"),
    (R + "/deletedTags", deleted_tags.list_deleted_tags, "GET"),
    (R + "/deletedTags/<deleted>/restore", deleted_tags.restore_deleted_tag, "POST"),
    (R + "/usage", storage_usage.repository_usage, "GET"),
    (N + "/usage", storage_usage.namespace_usage, "GET"),
    (N + "/quota", storage_usage.set_quota, "PUT"),
    ("/admin/usage", storage_usage.registry_usage, "GET"),
    ("/admin/proxies", proxy_caches.list_proxies, "GET"),
    ("/admin/proxies", proxy_caches.create_proxy, "POST"),
    ("/admin/proxies/<proxy>", proxy_caches.get_proxy, "GET"),
    ("/admin/proxies/<proxy>", proxy_caches.update_proxy, "PATCH"),
    ("/admin/proxies/<proxy>", proxy_caches.delete_proxy, "DELETE"),
    ("/admin/proxies/<proxy>/check", proxy_caches.check_proxy, "POST"),
    ("/admin/replication", replication.list_rules, "GET"),
    ("/admin/replication", replication.create_rule, "POST"),
    ("/admin/replication/<rule_name>", replication.get_rule, "GET"),
    ("/admin/replication/<rule_name>", replication.update_rule, "PATCH"),
    ("/admin/replication/<rule_name>", replication.delete_rule, "DELETE"),
    ("/admin/replication/<rule_name>/run", replication.run_rule, "POST"),
    ("/admin/replication/<rule_name>/runs", replication.list_runs, "GET"),
    ("/admin/replication-runs/<run>", replication.get_run, "GET"),
    ("/admin/replication-runs/<run>/retry", replication.retry_run, "POST"),
    ("/index/search", search.search, "GET"),
    ("/index/autocomplete", search.autocomplete, "GET"),
    ("/openapi.json", openapi_document, "GET"),
    ("/version", version, "GET"),
]

for rule, view, method in ROUTES:
    bp.add_url_rule(
        rule, f"{view.__module__.rsplit('.', 1)[1]}_{view.__name__}", view, methods=[method]
    )
for rule, endpoint, view, method in [*webhooks.routes(R, N, "/admin"), *retention.routes(R, N)]:
    bp.add_url_rule(rule, endpoint, view, methods=[method])


@bp.before_request
def _client_address():
    audit.set_client_address(request.remote_addr)


@bp.errorhandler(DomainError)
def _domain_error(error):
    return error_response(error)
