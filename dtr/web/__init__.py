"""The web portal: server-rendered pages with HTMX. Every route is listed here."""

from flask import Blueprint, request

from ..auth.csrf import check_csrf, csrf_token
from ..errors import DomainError
from . import (
    access_token_pages,
    account_pages,
    artifact_pages,
    auth_pages,
    gc_page,
    immutable_tag_pages,
    logs_page,
    oidc_settings_pages,
    organization_pages,
    proxy_pages,
    replication_pages,
    repository_pages,
    retention_pages,
    robot_pages,
    settings_pages,
    storage_page,
    webhook_pages,
)
from .api_console import api_console
from .rendering import LoginRequired, common_context, error_page, favicon, login_redirect

bp = Blueprint("web", __name__)

GET, POST, BOTH = ("GET",), ("POST",), ("GET", "POST")
R = "/repositories/<namespace>/<name>"
HOOK = R + "/webhooks/<webhook>"
ORG = "/organizations/<org>"
TEAM = ORG + "/teams/<team>"
ROBOT = ORG + "/robots/<robot>"
RETENTION_ROUTES = [  # a repository's
    (R + "/retention", retention_pages.save_policy, POST, "save_retention"),
    (R + "/retention/delete", retention_pages.remove_policy, POST, "remove_retention"),
    (R + "/retention/run", retention_pages.run_retention, POST, "run_retention"),
]
WEBHOOK_ROUTES = [  # a repository's
    (R + "/webhooks", webhook_pages.create_webhook, POST, "create_webhook"),
    (HOOK, webhook_pages.webhook_page, GET, "webhook"),
    (HOOK + "/test", webhook_pages.test_webhook, POST, "test_webhook"),
    (HOOK + "/state", webhook_pages.change_state, POST, "webhook_state"),
    (HOOK + "/delete", webhook_pages.delete_webhook, POST, "delete_webhook"),
    (HOOK + "/deliveries/<delivery>/redeliver", webhook_pages.redeliver, POST, "redeliver"),
]
ROUTES = [
    ("/", auth_pages.home, GET, "home"),
    ("/setup", auth_pages.setup, BOTH, "setup"),
    ("/login", auth_pages.login, BOTH, "login"),
    ("/login/oidc", auth_pages.oidc_login, GET, "oidc_login"),
    ("/login/oidc/callback", auth_pages.oidc_callback, GET, "oidc_callback"),
    ("/logout", auth_pages.logout, POST, "logout"),
    ("/repositories", repository_pages.repository_list, GET, "repositories"),
    ("/repositories/new", repository_pages.new_repository, BOTH, "new_repository"),
    (R, repository_pages.repository, GET, "repository"),
    (R + "/tags/delete", repository_pages.delete_tags, POST, "delete_tags"),
    (R + "/deleted-tags/<deleted>/restore", repository_pages.restore_tag, POST, "restore_tag"),
    (R + "/manifests/<digest>", artifact_pages.artifact, GET, "artifact"),
    (R + "/manifests/<digest>/blobs/<blob>", artifact_pages.artifact_blob, GET, "artifact_blob"),
    (R + "/settings", repository_pages.repository_settings, BOTH, "repository_settings"),
    (R + "/access", repository_pages.change_access, POST, "repository_access"),
    (R + "/delete", repository_pages.delete_repository, POST, "delete_repository"),
    *RETENTION_ROUTES,
    *(
        (rule.replace(R, ORG), view, methods, retention_pages.ORGANIZATION + name)
        for rule, view, methods, name in RETENTION_ROUTES
    ),
    (R + "/immutable-tags", immutable_tag_pages.add_rule, POST, "add_immutable_rule"),
    (R + "/immutable-tags/<rule>/delete", immutable_tag_pages.delete_rule, POST, "delete_rule"),
    *WEBHOOK_ROUTES,
    *(  # an organization's and the registry's: the same views
        (rule.replace(R, prefix), view, methods, place + name)
        for prefix, place in (
            (ORG, webhook_pages.ORGANIZATION),
            ("/settings", webhook_pages.REGISTRY),
        )
        for rule, view, methods, name in WEBHOOK_ROUTES
    ),
    ("/organizations", organization_pages.organization_list, GET, "organizations"),
    ("/organizations/new", organization_pages.new_organization, BOTH, "new_organization"),
    (ORG, organization_pages.organization, GET, "organization"),
    (ORG + "/quota", organization_pages.set_quota, POST, "organization_quota"),
    (ORG + "/teams/new", organization_pages.new_team, BOTH, "new_team"),
    (TEAM, organization_pages.team, GET, "team"),
    (TEAM + "/users", organization_pages.user_search, GET, "user_search"),
    (TEAM + "/members", organization_pages.change_member, POST, "team_members"),
    (TEAM + "/repositories", organization_pages.add_repository, POST, "team_add_repository"),
    (TEAM + "/repositories/revoke", organization_pages.revoke_repository, POST, "team_revoke"),
    (ORG + "/robots", robot_pages.create_robot, POST, "create_robot"),
    (ROBOT, robot_pages.robot_page, BOTH, "robot"),
    (ROBOT + "/state", robot_pages.robot_state, POST, "robot_state"),
    (ROBOT + "/secret", robot_pages.regenerate_secret, POST, "robot_secret"),
    (ROBOT + "/delete", robot_pages.delete_robot, POST, "delete_robot"),
    ("/account", account_pages.account, GET, "account"),
    ("/account/password", account_pages.change_password, POST, "change_password"),
    ("/access-tokens", access_token_pages.access_tokens_page, BOTH, "access_tokens"),
    ("/access-tokens/<token_id>/revoke", access_token_pages.revoke_token, POST, "revoke_token"),
    ("/settings", settings_pages.settings, GET, "settings"),
    ("/settings/<tab>", settings_pages.settings_tab, GET, "settings_tab"),
    ("/settings/logs", logs_page.logs_tab, GET, "settings_logs"),
    ("/logs/stream", logs_page.log_stream, GET, "log_stream"),
    ("/settings/auth", settings_pages.save_auth, POST, "save_auth"),
    ("/settings/auth/try-login", settings_pages.try_ldap_login, POST, "try_ldap_login"),
    ("/settings/auth/oidc", oidc_settings_pages.save_oidc, POST, "save_oidc"),
    ("/settings/auth/oidc/test", oidc_settings_pages.test_oidc, POST, "test_oidc"),
    ("/settings/auth/users", settings_pages.add_user, POST, "add_user"),
    ("/settings/auth/users/import", settings_pages.import_users, POST, "import_users"),
    ("/settings/auth/users/<name>", settings_pages.change_user, POST, "change_user"),
    ("/settings/auth/credentials", settings_pages.save_credentials, POST, "save_credentials"),
    ("/settings/license", settings_pages.upload_license, POST, "upload_license"),
    ("/settings/general", settings_pages.save_general, POST, "save_general"),
    ("/settings/proxies", proxy_pages.create_proxy, POST, "create_proxy"),
    ("/settings/proxies/<name>/check", proxy_pages.check_proxy, POST, "check_proxy"),
    ("/settings/proxies/<name>/delete", proxy_pages.delete_proxy, POST, "delete_proxy"),
    ("/settings/replication", replication_pages.create_rule, POST, "create_replication_rule"),
    ("/settings/replication/<name>", replication_pages.rule_history, GET, "replication_rule"),
    ("/settings/replication/<name>/run", replication_pages.run_rule, POST, "run_replication_rule"),
    (
        "/settings/replication/<name>/delete",
        replication_pages.delete_rule,
        POST,
        "delete_replication_rule",
    ),
    (
        "/settings/replication/runs/<run_id>/retry",
        replication_pages.retry_run,
        POST,
        "retry_replication_run",
    ),
    ("/settings/storage", storage_page.save_storage, POST, "save_storage"),
    ("/settings/storage/test", storage_page.test_storage, POST, "test_storage"),
    ("/settings/storage/verify", storage_page.verify_storage, POST, "verify_storage"),
    ("/settings/storage/verify/progress", storage_page.verify_progress, GET, "verify_progress"),
    ("/settings/garbage-collection", gc_page.save_gc_settings, POST, "save_gc_settings"),
    ("/settings/garbage-collection/run", gc_page.run_gc, POST, "run_gc"),
    ("/settings/garbage-collection/progress", gc_page.gc_progress, GET, "gc_progress"),
    ("/api-docs", api_console, GET, "api_console"),
    ("/favicon.ico", favicon, GET, "favicon"),
]

for rule, view, methods, endpoint in ROUTES:
    bp.add_url_rule(rule, endpoint, view, methods=list(methods))

bp.before_request(check_csrf)
bp.record_once(lambda state: _configure_templates(state.app))


def _configure_templates(app):
    from .gc_page import errors_of, report_of

    app.jinja_env.globals.update(csrf_token=csrf_token)
    app.jinja_env.filters.update(fromjson_list=errors_of, fromjson_dict=report_of)


bp.app_context_processor(common_context)
bp.register_error_handler(DomainError, error_page)
bp.register_error_handler(LoginRequired, login_redirect)


def security_headers(response):
    """Pages of the portal: no framing, no sniffing, scripts and styles only from here."""
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        )
    return response


bp.after_request(security_headers)


def keep_the_form_address(response):
    """A boosted form answered in place (refused with a message, or a secret shown once)
    leaves the address bar on the page the form was on: the form's action may answer only
    POST, so reloading it would fail. A view may name another address (HX-Push-Url)."""
    boosted = request.headers.get("HX-Boosted") == "true"
    if boosted and request.method != "GET" and not 300 <= response.status_code < 400:
        response.headers.setdefault("HX-Push-Url", "false")
    return response


bp.after_request(keep_the_form_address)
