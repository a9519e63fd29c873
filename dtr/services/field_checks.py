"""The checks of the fields of a JSON object a client sent that many services share."""

import urllib.parse

from ..errors import InvalidInput

MAX_NAME_SHOWN = 100  # a field name is echoed back at most this long


def refuse_unknown_fields(body: dict, allowed, reason: str):
    """InvalidInput `<field>: <reason>` naming the first (sorted) field of `body` that is not
    one of `allowed`; nothing when there is none."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        name = unknown[0][:MAX_NAME_SHOWN]
        raise InvalidInput(f"{name}: {reason}", {"field": name})


def checked_whole_number(value, name: str, low: int, high: int, says=None, field=None) -> int:
    """`value` when it is an int (not a bool) from `low` to `high`; else InvalidInput
    `<name>: <says>` (default "a whole number from <low> to <high>") whose detail names
    `field` (default `name`)."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        says = says or f"a whole number from {low} to {high}"
        raise InvalidInput(f"{name}: {says}", {"field": field or name})
    return value


def checked_registry_url(url, field: str) -> str:
    """An http:// or https:// URL of a registry (no credentials, query or fragment), without
    its final slash; else InvalidInput naming `field`."""
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) and len(url) <= 2048 else None
    try:
        port_ok = parts is not None and (parts.port is None or parts.port > 0)
    except ValueError:
        port_ok = False
    if (
        not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise InvalidInput(
            f"{field}: an http:// or https:// URL of a registry (no credentials, query or "
            "fragment)",
            {"field": field},
        )
    return url.rstrip("/")


def checked_optional_string(value, field: str, limit: int) -> str | None:
    """A string of at most `limit` characters, or None (null or empty)."""
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise InvalidInput(
            f"{field}: a string of at most {limit} characters or null", {"field": field}
        )
    return value or None


def checked_flag(value, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field}: true or false", {"field": field})
    return value
