"""Settings > Auth: the auth mode (None, Managed, LDAP, OIDC), the LDAP and OpenID Connect
configurations, and the credential rules (the shortest password, the longest access token
and robot lifetime).

The LDAP configuration is stored with its bind password, the OIDC one with its client
secret (neither is ever returned by the API). A configuration is saved only after it works
(LDAP binds; the provider's discovery document and keys are fetched), so a typo cannot lock
everybody out; local admins keep logging in with their password in LDAP and OIDC modes
(break-glass) whatever the directory or the provider does.
"""

from ..auth import ldap_directory, oidc_client, passwords
from ..database import db
from ..errors import InvalidInput
from . import audit
from .callers import require_admin
from .credential_rules import PASSWORD_MIN_LENGTH_RANGE, TOKEN_MAX_DAYS_RANGE
from .field_checks import checked_whole_number, refuse_unknown_fields
from .settings import forget_cached_setting, get_setting, set_setting

MODES = ("managed", "ldap", "oidc")
RULES = {  # API field -> (setting, (lowest, highest))
    "passwordMinLength": ("password_min_length", PASSWORD_MIN_LENGTH_RANGE),
    "tokenMaxLifetimeDays": ("token_max_lifetime_days", TOKEN_MAX_DAYS_RANGE),
}
FIELDS = {"mode", "ldap", "oidc", *RULES}
# what each directory's settings are: (class, the secret kept when a change leaves it out,
# the settings that must stay the same for it to be kept: it is never sent somewhere new)
DIRECTORIES = {
    "ldap": (ldap_directory.LdapSettings, "bind_password", ("server_url", "bind_dn")),
    "oidc": (oidc_client.OidcSettings, "client_secret", ("issuer", "client_id")),
}


def ldap_settings() -> ldap_directory.LdapSettings | None:
    return _stored("ldap")


def oidc_settings() -> oidc_client.OidcSettings | None:
    return _stored("oidc")


def _stored(kind):
    stored = get_setting(kind)
    return DIRECTORIES[kind][0].from_dict(stored) if stored else None


def describe(actor) -> dict:
    require_admin(actor, "change the auth settings")
    described = {"mode": get_setting("auth_mode")}
    for kind in DIRECTORIES:
        settings = _stored(kind)
        described[kind] = settings.to_dict() if settings else None
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


def _merged(kind, body_value):
    """LDAP or OIDC settings from a request; a missing secret keeps the stored one, unless
    the server or the client it was for changed."""
    cls, secret, bound_to = DIRECTORIES[kind]
    if not isinstance(body_value, dict):
        what = kind.upper()
        raise InvalidInput(f"{kind}: an object with the {what} settings", {"field": kind})
    values = dict(body_value)
    current = _stored(kind)
    same_place = current is not None and all(
        values.get(name) == getattr(current, name) for name in bound_to
    )
    if not values.get(secret) and same_place:
        values[secret] = getattr(current, secret)
    elif not values.get(secret) and current is not None:
        named = " or ".join(bound_to)
        raise InvalidInput(f"{secret}: required again when the {named} changes", {"field": secret})
    return cls.from_dict(values)


def _check_works(kind, settings):
    """Refuse, with the server's message, settings that do not work."""
    if kind == "ldap":
        ldap_directory.check_bind(settings)
    else:
        oidc_client.check_provider(settings)


def update(actor, body: dict) -> dict:
    require_admin(actor, "change the auth settings")
    refuse_unknown_fields(body, FIELDS, "unknown setting")
    rules = _check_rules(body)
    mode = body.get("mode", get_setting("auth_mode"))
    if mode not in MODES:
        raise InvalidInput(f"mode: one of {', '.join(MODES)}", {"field": "mode"})
    changed = {}
    for kind in DIRECTORIES:
        settings = _merged(kind, body[kind]) if kind in body else _stored(kind)
        if mode == kind and settings is None:
            what = kind.upper()
            raise InvalidInput(
                f"{kind}: the {what} settings are required for mode {kind}", {"field": kind}
            )
        if kind in body or ("mode" in body and mode == kind):
            _check_works(kind, settings)
        if kind in body:
            changed[kind] = settings
    for kind, settings in changed.items():
        set_setting(kind, settings.to_dict(include_secrets=True), commit=False)
    set_setting("auth_mode", mode, commit=False)
    for key, value in rules.items():
        set_setting(key, value, commit=False)
    detail = {f"{kind}Changed": kind in body for kind in DIRECTORIES}
    detail.update({name: body[name] for name in RULES if name in body})
    audit.record(actor.name, "settings.auth", mode, detail)
    db.session.commit()
    for key in (*DIRECTORIES, "auth_mode", *rules):
        forget_cached_setting(key)
    passwords.forget_all_checks()
    oidc_client.forget_provider_cache()
    return describe(actor)


def try_login(actor, body: dict) -> dict:
    """Check a configuration (the stored one, or one not saved yet) with a user's login."""
    require_admin(actor, "change the auth settings")
    settings = _merged("ldap", body["ldap"]) if "ldap" in body else ldap_settings()
    if settings is None:
        raise InvalidInput("ldap: no LDAP settings given or saved", {"field": "ldap"})
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise InvalidInput("username, password: required", {"field": "username"})
    return ldap_directory.try_login(settings, username, password)


def test_oidc(actor, body: dict) -> dict:
    """Check an OpenID Connect configuration (the stored one, or one not saved yet): fetch the
    provider's discovery document and keys. The outcome as data, for the "Test" button."""
    require_admin(actor, "change the auth settings")
    refuse_unknown_fields(body, {"oidc"}, "unknown field")
    settings = _merged("oidc", body["oidc"]) if "oidc" in body else oidc_settings()
    if settings is None:
        raise InvalidInput("oidc: no OpenID Connect settings given or saved", {"field": "oidc"})
    try:
        return oidc_client.check_provider(settings)
    except oidc_client.OidcUnavailable as failure:
        return {"ok": False, "message": failure.message}
