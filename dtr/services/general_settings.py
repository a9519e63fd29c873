"""Settings > General: the domain name (and its TLS certificate), create-on-push, the
lifetime of registry tokens. All apply without a restart."""

import ipaddress
import re

from flask import current_app

from ..database import db
from ..errors import InvalidInput
from . import audit
from .callers import require_admin
from .settings import domain_name, forget_cached_setting, get_setting, set_setting

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
TOKEN_LIFETIME_RANGE = (60, 24 * 3600)


def token_lifetime() -> int:
    """Seconds a registry token lives: the setting, else the configuration's default."""
    return get_setting("token_lifetime_seconds") or current_app.config["TOKEN_LIFETIME"]


def describe(actor) -> dict:
    require_admin(actor, "see the general settings")
    return {
        "domainName": domain_name(),
        "createOnPush": bool(get_setting("create_on_push")),
        "tokenLifetimeSeconds": token_lifetime(),
    }


def check_domain_name(name) -> str:
    """A DNS name (letters, digits, hyphens, dots) or an IP address."""
    if not isinstance(name, str):
        raise InvalidInput("domainName: a host name", {"field": "domainName"})
    name = name.strip().lower().rstrip(".")
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        pass
    if not name or len(name) > 253 or not all(_LABEL.match(p) for p in name.split(".")):
        raise InvalidInput(
            "domainName: a host name such as dtr.example.com (letters, digits, hyphens, dots)",
            {"field": "domainName"},
        )
    return name


def update(actor, body: dict) -> dict:
    """Check every field first, then store them together; a new domain name regenerates
    the certificate, which the running server uses from its next connection."""
    require_admin(actor, "change the general settings")
    unknown = sorted(set(body) - {"domainName", "createOnPush", "tokenLifetimeSeconds"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown setting", {"field": unknown[0]})
    changes = {}
    if "domainName" in body:
        changes["domain_name"] = check_domain_name(body["domainName"])
    if "createOnPush" in body:
        if not isinstance(body["createOnPush"], bool):
            raise InvalidInput("createOnPush: true or false", {"field": "createOnPush"})
        changes["create_on_push"] = body["createOnPush"]
    if "tokenLifetimeSeconds" in body:
        value = body["tokenLifetimeSeconds"]
        low, high = TOKEN_LIFETIME_RANGE
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidInput(
                f"tokenLifetimeSeconds: whole seconds from {low} to {high}",
                {"field": "tokenLifetimeSeconds"},
            )
        changes["token_lifetime_seconds"] = value
    domain_changed = "domain_name" in changes and changes["domain_name"] != domain_name()
    if domain_changed:
        from ..tls import ensure_certificate

        ensure_certificate(current_app.instance_path, changes["domain_name"])
    for key, value in changes.items():
        set_setting(key, value, commit=False)
    audit.record(actor.name, "settings.general", "general", body)
    db.session.commit()
    for key in changes:
        forget_cached_setting(key)
    return describe(actor)
