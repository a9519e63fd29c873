"""Settings held as frozen dataclasses (LDAP, OpenID Connect): built from JSON-like data the
same way, so that an unknown name, a missing required value and an empty optional one mean
the same thing for each of them."""

from dataclasses import MISSING, fields


def settings_from_dict(cls, data, invalid, unstripped=()):
    """`cls(**values)` from `data`: unknown names and missing required values are refused by
    `invalid(name, reason)` (which raises); empty optional values take their defaults; text
    is stripped, except in the fields named by `unstripped` (passwords, PEM)."""
    if not isinstance(data, dict):
        invalid("settings", "must be an object")
    known = {f.name: f for f in fields(cls)}
    for name in data:
        if name not in known:
            invalid(name, "unknown setting")
    values = {}
    for name, spec in known.items():
        value = data.get(name)
        if isinstance(value, str) and name not in unstripped:
            value = value.strip()
        if value is None or value == "":
            if spec.default is MISSING and spec.default_factory is MISSING:
                invalid(name, "required")
            continue
        values[name] = value
    return cls(**values)
