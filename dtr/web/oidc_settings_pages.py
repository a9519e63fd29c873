"""Settings > Auth, the OpenID Connect part: save the provider's settings (and switch to
single sign-on), or test them without saving."""

from flask import request

from ..errors import DomainError
from ..services import auth_settings
from .rendering import form_error, go, page
from .settings_pages import admin, auth_page

TEXT_FIELDS = (
    "issuer",
    "client_id",
    "display_name",
    "scopes",
    "username_claim",
    "groups_claim",
    "admin_group",
    "default_role",
)
LIST_FIELDS = ("allowed_groups", "allowed_domains")
FIELDS = (*TEXT_FIELDS, *LIST_FIELDS, "client_secret", "clock_skew_seconds", "oidc")


def _settings_from_form(form) -> dict:
    """The form's values as the service takes them: lists one per line (or comma), the
    number as typed when it is not one (the service refuses it, beside its field)."""
    values = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
    values["admin_group"] = values["admin_group"] or None
    for name in LIST_FIELDS:
        text = form.get(name, "").replace(",", "\n")
        values[name] = [line.strip() for line in text.splitlines() if line.strip()]
    values["client_secret"] = form.get("client_secret", "")
    raw = form.get("clock_skew_seconds", "").strip()
    values["clock_skew_seconds"] = int(raw) if raw.isdecimal() and len(raw) < 6 else raw or None
    return values


def _shown(values):
    """What to show again after a refusal: never the secret; lists one per line."""
    shown = {key: value for key, value in values.items() if key != "client_secret"}
    for name in LIST_FIELDS:
        shown[name] = "\n".join(values.get(name) or [])
    return shown


def save_oidc():
    me = admin()
    values = _settings_from_form(request.form)
    try:
        auth_settings.update(me, {"mode": "oidc", "oidc": values})
    except DomainError as failure:
        error = form_error(failure, "oidc-form", FIELDS, default="issuer")
        return auth_page(me, error, oidc_form=_shown(values))
    return go("web.settings_tab", "Single sign-on saved: the auth mode is now OIDC.", tab="auth")


def test_oidc():
    me = admin()
    try:
        result = auth_settings.test_oidc(me, {"oidc": _settings_from_form(request.form)})
    except DomainError as failure:
        result = {"ok": False, "message": failure.message}
    return page("settings/_oidc_test.html", result=result)
