"""Settings > Auth: the auth mode (None, Managed, LDAP), the LDAP configuration, and the
credential rules (the shortest password, the longest access token and robot lifetime).

The LDAP configuration is stored with its bind password (never returned by the API). A
configuration is saved only after it binds, so a typo cannot lock everybody out; local
admins keep working in LDAP mode (break-glass) whatever LDAP does.
"""

from ..auth import ldap_directory, passwords
from ..database import db
from ..errors import InvalidInput
from . import audit
from .callers import require_admin
from .credential_rules import PASSWORD_MIN_LENGTH_RANGE, TOKEN_MAX_DAYS_RANGE
from .field_checks import checked_whole_number, refuse_unknown_fields
from .settings import forget_cached_setting, get_setting, set_setting

MODES = ("managed", "ldap")
RULES = {  # API field -> (setting, (lowest, highest))
    "passwordMinLength": ("password_min_length", PASSWORD_MIN_LENGTH_RANGE),
    "tokenMaxLifetimeDays": ("token_max_lifetime_days", TOKEN_MAX_DAYS_RANGE),
}
FIELDS = {"mode", "ldap", *RULES}


def ldap_settings() -> ldap_directory.LdapSettings | None:
    stored = get_setting("ldap")
    return ldap_directory.LdapSettings.from_dict(stored) if stored else None


def describe(actor) -> dict:
    require_admin(actor, "change the auth settings")
    settings = ldap_settings()
    described = {"mode": get_setting("auth_mode"), "ldap": settings.to_dict() if settings else None}
    for name, (key, _) in RULES.items():
        described[name] = get_setting(key)
    return described


def _check_rules(body) -> dict:
    """setting -> value of the credential rules given in `body`, each checked."""
    changes = {}
    for name, (key, (lowest, highest)) in RULES.items():
        if name not in body:
            continue
        changes[key] = checked_whole_number(body[name], name, lowest, highest)
    return changes


def _merged(body_ldap) -> ldap_directory.LdapSettings:
    """LDAP settings from a request; a missing bind password keeps the stored one."""
    if not isinstance(body_ldap, dict):
        raise InvalidInput("ldap: an object with the LDAP settings", {"field": "ldap"})
    values = dict(body_ldap)
    current = ldap_settings()
    if not values.get("bind_password") and current is not None:
        values["bind_password"] = current.bind_password
    return ldap_directory.LdapSettings.from_dict(values)


def update(actor, body: dict) -> dict:
    require_admin(actor, "change the auth settings")
    refuse_unknown_fields(body, FIELDS, "unknown setting")
    rules = _check_rules(body)
    mode = body.get("mode", get_setting("auth_mode"))
    if mode not in MODES:
        raise InvalidInput(f"mode: one of {', '.join(MODES)}", {"field": "mode"})
    settings = _merged(body["ldap"]) if "ldap" in body else ldap_settings()
    if mode == "ldap" and settings is None:
        raise InvalidInput("ldap: the LDAP settings are required for mode ldap", {"field": "ldap"})
    if "ldap" in body or ("mode" in body and mode == "ldap"):
        ldap_directory.check_bind(settings)  # refused with the server's message
    if "ldap" in body:
        set_setting("ldap", settings.to_dict(include_secrets=True), commit=False)
    set_setting("auth_mode", mode, commit=False)
    for key, value in rules.items():
        set_setting(key, value, commit=False)
    detail = {"ldapChanged": "ldap" in body}
    detail.update({name: body[name] for name in RULES if name in body})
    audit.record(actor.name, "settings.auth", mode, detail)
    db.session.commit()
    for key in ("ldap", "auth_mode", *rules):
        forget_cached_setting(key)
    passwords.forget_all_checks()
    return describe(actor)


def try_login(actor, body: dict) -> dict:
    """Check a configuration (the stored one, or one not saved yet) with a user's login."""
    require_admin(actor, "change the auth settings")
    settings = _merged(body["ldap"]) if "ldap" in body else ldap_settings()
    if settings is None:
        raise InvalidInput("ldap: no LDAP settings given or saved", {"field": "ldap"})
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise InvalidInput("username, password: required", {"field": "username"})
    return ldap_directory.try_login(settings, username, password)
