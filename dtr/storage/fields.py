"""How a storage backend describes its settings, so that the API, the Settings > Storage page
and `create_driver` handle every backend the same way."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str  # the key in the backend's options (camelCase, as the API shows it)
    label: str
    kind: str = "text"  # "text" | "secret" (never shown back) | "bool" | "int"
    required: bool = False
    default: object = None
    help: str = ""


def check_options(fields: list[Field], options: dict) -> dict:
    """The options with defaults filled in; ValueError naming the first field that is
    unknown, missing or of the wrong type."""
    known = {field.name: field for field in fields}
    for name in options:
        if name not in known:
            raise ValueError(f"unknown storage option {name!r}")
    checked = {}
    for field in fields:
        value = options.get(field.name, field.default)
        if value is None or value == "":
            if field.required:
                raise ValueError(f"{field.label} ({field.name}) is required")
            checked[field.name] = field.default
            continue
        expected = {"bool": bool, "int": int}.get(field.kind, str)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f"{field.label} ({field.name}) must be a {expected.__name__}")
        checked[field.name] = value
    return checked
