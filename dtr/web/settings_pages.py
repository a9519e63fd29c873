"""Settings (admins): Auth (mode, managed users, LDAP), License, General; the tabs of the
others (Storage, Garbage collection, Webhooks, Proxies, Replication, Logs) are in their own
modules."""

from dataclasses import replace

from flask import abort, request, url_for

from ..auth.oidc_client import ROLES_FOR_NEW_ACCOUNTS
from ..auth.sessions import keep_session
from ..errors import DomainError, InvalidInput
from ..models import ROLES
from ..services import accounts, auth_settings, general_settings
from ..services.callers import require_admin
from ..services.credential_rules import PASSWORD_MIN_LENGTH_RANGE, TOKEN_MAX_DAYS_RANGE
from .credential_forms import whole_number
from .navigation import settings_tabs
from .rendering import dom_id, form_error, go, page
from .repository_pages import logged_in

LDAP_TEXT_FIELDS = (
    "server_url",
    "bind_dn",
    "user_base_dn",
    "login_attribute",
    "user_filter",
    "admin_group_dn",
)
LDAP_OTHER_FIELDS = ("bind_password", "ca_certificate", "sync_interval_minutes")
ADD_USER_FIELDS = {"name": "username", "password": "password", "role": "role"}


def admin():
    me = logged_in()
    require_admin(me, "see the settings")
    return me


def settings():
    admin()
    return go("web.settings_tab", tab="auth")


def settings_tab(tab):
    me = admin()
    from .gc_page import gc_tab
    from .proxy_pages import proxies_tab
    from .replication_pages import replication_tab
    from .storage_page import storage_tab
    from .webhook_pages import registry_tab

    views = {
        "auth": auth_page,
        "license": _license_page,
        "general": _general_page,
        "storage": storage_tab,
        "garbage-collection": gc_tab,
        "webhooks": registry_tab,
        "proxies": proxies_tab,
        "replication": replication_tab,
    }
    if tab not in views:
        abort(404)
    return views[tab](me)


def _render(tab, code=200, **context):
    return page(f"settings/{tab}.html", code, tab=tab, tabs=settings_tabs(), **context)


# --- Auth -------------------------------------------------------------------------------


def auth_page(
    me,
    error=None,
    ldap_form=None,
    try_result=None,
    status=None,
    rules_form=None,
    typed=None,
    oidc_form=None,
):
    """Settings > Auth; `typed`: what a refused form sent, to show again (never a password
    or a secret)."""
    described = auth_settings.describe(me)
    typed = typed or {}
    users, _ = accounts.list_accounts(me, 0, 1000)
    rules = {name: described[name] for name in auth_settings.RULES}
    return _render(
        "auth",
        status or (400 if error else 200),
        mode=described["mode"],
        ldap=ldap_form or described["ldap"] or {},
        oidc=oidc_form or described["oidc"] or {},
        oidc_redirect_uri=url_for("web.oidc_callback", _external=True),
        oidc_roles=ROLES_FOR_NEW_ACCOUNTS,
        users=[user for user in users if not user.is_org],
        roles=ROLES,
        error=error,
        try_result=try_result,
        rules=rules,
        rules_form=rules_form or rules,
        password_range=PASSWORD_MIN_LENGTH_RANGE,
        token_days_range=TOKEN_MAX_DAYS_RANGE,
        added={name: typed.get(name, "") for name in ("username", "role")},
    )


def save_credentials():
    """Credentials: the shortest password, the longest access token and robot lifetime."""
    me = admin()
    typed = {name: request.form.get(name, "") for name in auth_settings.RULES}
    try:
        auth_settings.update(me, {name: whole_number(value) for name, value in typed.items()})
    except DomainError as failure:
        error = form_error(failure, "credential-rules", tuple(auth_settings.RULES))
        return auth_page(me, error, rules_form=typed)
    return go("web.settings_tab", "Credential rules saved.", tab="auth")


def _ldap_from_form(form) -> dict:
    values = {name: form.get(name, "").strip() for name in LDAP_TEXT_FIELDS}
    values["admin_group_dn"] = values["admin_group_dn"] or None
    values["bind_password"] = form.get("bind_password", "")
    values["start_tls"] = form.get("start_tls") == "on"
    values["tls_skip_verify"] = form.get("tls_skip_verify") == "on"
    values["ca_certificate"] = form.get("ca_certificate", "").strip() or None
    raw = form.get("sync_interval_minutes", "60").strip()
    if not raw.isdecimal():
        raise InvalidInput("sync_interval_minutes: whole minutes")
    values["sync_interval_minutes"] = int(raw)
    return values


def save_auth():
    """Save the mode (and the LDAP fields when they were sent)."""
    me = admin()
    form = request.form
    ldap_form = None
    try:
        body = {"mode": form.get("mode", "")}
        if form.get("server_url") is not None:
            ldap_form = _ldap_from_form(form)
            body["ldap"] = ldap_form
        auth_settings.update(me, body)
    except DomainError as failure:
        if "server_url" in form:
            error = form_error(failure, "ldap-form", (*LDAP_TEXT_FIELDS, *LDAP_OTHER_FIELDS))
        else:
            error = form_error(failure, "auth-mode", ("mode",))
        return auth_page(me, error, _shown(ldap_form))
    return go("web.settings_tab", "Auth settings saved.", tab="auth")


def _shown(ldap_form):
    """The LDAP fields to show back: never the password."""
    if ldap_form is None:
        return None
    return {key: value for key, value in ldap_form.items() if key != "bind_password"}


def try_ldap_login():
    me = admin()
    form = request.form
    ldap_form = None
    try:
        ldap_form = _ldap_from_form(form)
        result = auth_settings.try_login(
            me,
            {
                "ldap": ldap_form,
                "username": form.get("try_username", ""),
                "password": form.get("try_password", ""),
            },
        )
    except DomainError as failure:
        result = {"ok": False, "message": failure.message}
    except (TypeError, ValueError) as failure:
        result = {"ok": False, "message": str(failure)}
    return page("settings/_try_login.html", result=result)


def add_user():
    me = admin()
    form = request.form
    name = form.get("username", "").strip()
    try:
        accounts.create_user(name, form.get("password", ""), form.get("role", "none"), actor=me)
    except DomainError as failure:
        error = form_error(failure, "add-user", ADD_USER_FIELDS)
        return auth_page(me, error, typed={"username": name, "role": form.get("role", "")})
    return go("web.settings_tab", f"User {name} added.", tab="auth")


def import_users():
    me = admin()
    upload = request.files.get("file")
    text = upload.read(1024 * 1024).decode("utf-8", "replace") if upload else ""
    text = text or request.form.get("csv", "")
    try:
        created = accounts.import_users_csv(me, text)
    except DomainError as failure:
        error = form_error(failure, "import-users", ("csv",), default="csv")
        return auth_page(me, replace(error, message=f"{error} (nobody was created)"))
    return go("web.settings_tab", f"{len(created)} users imported.", tab="auth")


def change_user(name):
    """Role change, deactivate/activate, reset password: one row of the user table."""
    me = admin()
    form = request.form
    action = form.get("action")
    try:
        if action == "role":
            accounts.set_role(me, name, form.get("role", ""))
            message = f"{name} is now {form.get('role')}."
        elif action in ("activate", "deactivate"):
            accounts.set_active(me, name, action == "activate")
            message = f"{name} {action}d."
        elif action == "password":
            accounts.change_password(me, name, None, form.get("password", ""))
            message = f"Password of {name} reset."
            if name == me.name:
                keep_session(me)  # the admin's own: other sessions end, not this one
        else:
            abort(400)
    except DomainError as failure:
        if action == "password":
            error = form_error(failure, dom_id("password-of", name), {"newPassword": "password"})
        elif action == "role":
            error = form_error(failure, dom_id("role-of", name), ("role",))
        else:
            error = form_error(failure, prefix=f"{name}: ")
        return auth_page(me, error)
    return go("web.settings_tab", message, tab="auth")


# --- License ----------------------------------------------------------------------------


def _license_page(me, error=None, status=None):
    from ..services.license import license_status

    return _render(
        "license", status or (400 if error else 200), license=license_status(), error=error
    )


def upload_license():
    me = admin()
    from ..license import LicenseError
    from ..services.license import install_license

    upload = request.files.get("file")
    text = upload.read(256 * 1024).decode("utf-8", "replace") if upload else ""
    text = text or request.form.get("license", "")
    try:
        install_license(me, text)
    except (LicenseError, DomainError) as failure:
        refused = form_error(failure, "upload-license", default="file")
        return _license_page(me, replace(refused, message=f"The license was refused: {refused}"))
    return go("web.settings_tab", "License installed.", tab="license")


# --- General ----------------------------------------------------------------------------


def _general_page(me, error=None, form=None):
    from .addresses import registry_address

    return _render(
        "general",
        400 if error else 200,
        settings=form or general_settings.describe(me),
        error=error,
        lifetime_range=general_settings.TOKEN_LIFETIME_RANGE,
        address=registry_address(),
        browser_address=request.host,
    )


def save_general():
    me = admin()
    form = request.form
    lifetime = form.get("tokenLifetimeSeconds", "").strip()
    body = {
        "domainName": form.get("domainName", "").strip() or None,  # empty: none
        "createOnPush": form.get("createOnPush") == "on",
        "tokenLifetimeSeconds": int(lifetime) if lifetime.isdecimal() else lifetime,
    }
    try:
        before = general_settings.describe(me)["domainName"]
        after = general_settings.update(me, body)["domainName"]
    except DomainError as failure:
        fields = ("domainName", "createOnPush", "tokenLifetimeSeconds")
        return _general_page(me, form_error(failure, "general-settings", fields), body)
    message = "General settings saved."
    if after != before:
        message += (
            f" Docker commands now use {after}; the TLS certificate covers it (a new one must"
            " be trusted again)."
            if after
            else " No domain name: pages show the address each browser uses."
        )
    return go("web.settings_tab", message, tab="general")
