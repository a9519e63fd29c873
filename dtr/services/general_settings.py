"""Settings > General: the domain name (the registry's address as clients type it, `host` or
`host:port`, and its TLS certificate), create-on-push, the lifetime of registry tokens. All
apply without a restart."""

import ipaddress
import re

from flask import current_app

from ..database import db
from ..errors import InvalidInput
from . import audit
from .callers import require_admin
from .field_checks import checked_flag, checked_whole_number, refuse_unknown_fields
from .settings import forget_cached_setting, get_setting, set_setting

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
TOKEN_LIFETIME_RANGE = (60, 24 * 3600)


def token_lifetime() -> int:
    """Seconds a registry token lives: the setting, else the configuration's default."""
    return get_setting("token_lifetime_seconds") or current_app.config["TOKEN_LIFETIME"]


def describe(actor) -> dict:
    """domainName is None when no name is set: pages then show the address each browser
    used (and tokens name the host name of this machine as their service)."""
    require_admin(actor, "see the general settings")
    return {
        "domainName": get_setting("domain_name"),
        "createOnPush": bool(get_setting("create_on_push")),
        "tokenLifetimeSeconds": token_lifetime(),
    }


DOMAIN_NAME_HELP = (
    "domainName: a host name or IP address, with the port unless clients use 443, such as "
    "dtr.example.com, dtr.example.com:8443 or 10.0.0.5:8443"
)


def check_domain_name(name) -> str:
    """The registry's address as clients type it: a DNS name (letters, digits, hyphens,
    dots) or an IP address, optionally with a port (`host:port`; IPv6 in brackets). Returns
    it normalized: lower case, no trailing dot, IPv6 in brackets, the port as a number."""
    if not isinstance(name, str):
        raise InvalidInput(DOMAIN_NAME_HELP, {"field": "domainName"})
    text = name.strip().lower()
    host, port = _split_port(text)
    bracketed, host = text.startswith("["), host.rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        host = f"[{address.compressed}]" if address.version == 6 else address.compressed
    elif (
        bracketed
        or not host
        or len(host) > 253
        or not all(_LABEL.match(p) for p in host.split("."))
    ):
        raise InvalidInput(DOMAIN_NAME_HELP, {"field": "domainName"})
    return host if port is None else f"{host}:{port}"


def _split_port(text):
    """`host:port` -> (host, port or None); a bare IPv6 address has no port."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InvalidInput(DOMAIN_NAME_HELP, {"field": "domainName"})
        return host, _port(rest[1:]) if rest else None
    if text.count(":") != 1:
        return text, None
    host, port = text.split(":")
    return host, _port(port)


def _port(text):
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
        raise InvalidInput(
            "domainName: the port must be a number from 1 to 65535", {"field": "domainName"}
        )
    return int(text)


def update(actor, body: dict) -> dict:
    """Check every field first, then store them together; a new domain name regenerates
    the certificate, which the running server uses from its next connection."""
    require_admin(actor, "change the general settings")
    allowed = {"domainName", "createOnPush", "tokenLifetimeSeconds"}
    refuse_unknown_fields(body, allowed, "unknown setting")
    changes = {}
    if "domainName" in body:  # null: no name, the address each client used
        name = body["domainName"]
        changes["domain_name"] = None if name is None else check_domain_name(name)
    if "createOnPush" in body:
        changes["create_on_push"] = checked_flag(body["createOnPush"], "createOnPush")
    if "tokenLifetimeSeconds" in body:
        low, high = TOKEN_LIFETIME_RANGE
        changes["token_lifetime_seconds"] = checked_whole_number(
            body["tokenLifetimeSeconds"],
            "tokenLifetimeSeconds",
            low,
            high,
            f"whole seconds from {low} to {high}",
        )
    new_name = changes.get("domain_name")
    if new_name is not None and new_name != get_setting("domain_name"):
        from ..tls import ensure_certificate

        ensure_certificate(current_app.instance_path, new_name)
    for key, value in changes.items():
        set_setting(key, value, commit=False)
    audit.record(actor.name, "settings.general", "general", body)
    db.session.commit()
    for key in changes:
        forget_cached_setting(key)
    return describe(actor)
