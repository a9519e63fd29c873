"""The one check that a JSON object a client sent has only the fields it may have."""

from ..errors import InvalidInput

MAX_NAME_SHOWN = 100  # a field name is echoed back at most this long


def refuse_unknown_fields(body: dict, allowed, reason: str):
    """InvalidInput `<field>: <reason>` naming the first (sorted) field of `body` that is not
    one of `allowed`; nothing when there is none."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        name = unknown[0][:MAX_NAME_SHOWN]
        raise InvalidInput(f"{name}: {reason}", {"field": name})
