"""Settings > Auth: the auth mode (None, Managed, LDAP) and the LDAP configuration.

The LDAP configuration is stored with its bind password (never returned by the API). A
configuration is saved only after it binds, so a typo cannot lock everybody out; local
admins keep working in LDAP mode (break-glass) whatever LDAP does.
"""

from ..auth import ldap_directory, passwords
from ..database import db
from ..errors import InvalidInput
from . import audit
from .callers import require_admin
from .settings import get_setting, set_setting

MODES = ("managed", "ldap")


def ldap_settings() -> ldap_directory.LdapSettings | None:
    stored = get_setting("ldap")
    return ldap_directory.LdapSettings.from_dict(stored) if stored else None


def describe(actor) -> dict:
    require_admin(actor, "change the auth settings")
    settings = ldap_settings()
    return {"mode": get_setting("auth_mode"), "ldap": settings.to_dict() if settings else None}


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
    mode = body.get("mode", get_setting("auth_mode"))
    if mode not in MODES:
        raise InvalidInput(f"mode: one of {', '.join(MODES)}", {"field": "mode"})
    settings = _merged(body["ldap"]) if "ldap" in body else ldap_settings()
    if mode == "ldap" and settings is None:
        raise InvalidInput("ldap: the LDAP settings are required for mode ldap", {"field": "ldap"})
    if mode == "ldap" or "ldap" in body:
        ldap_directory.check_bind(settings)  # refused with the server's message
    if "ldap" in body:
        set_setting("ldap", settings.to_dict(include_secrets=True))
    set_setting("auth_mode", mode)
    passwords.forget_all_checks()
    audit.record(actor.name, "settings.auth", mode, {"ldapChanged": "ldap" in body})
    db.session.commit()
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
