"""The checks of the fields of a JSON object a client sent that many services share."""

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
