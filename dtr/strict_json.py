"""The one JSON parser for everything DTR reads from clients or storage: manifests and
indexes, image configs shown in the portal, cosign payloads, notation envelopes, TUF metadata,
license files and API bodies.

It accepts what the standard library accepts, except what would hurt: more than `max_bytes`,
nesting deeper than `max_depth` (deep nesting exhausts Python's recursion), invalid UTF-8,
lone surrogates in strings (they cannot be stored or encoded again), NaN and Infinity (not
JSON: a client reading them back fails), and duplicate keys (two readers may pick different
values). Anything refused raises JsonRejected, whose message says why (and where, as a path
like `layers[3].annotations`).
"""

import json

MAX_DEPTH = 64


class JsonRejected(ValueError):
    def __init__(self, message, path=""):
        super().__init__(f"{path}: {message}" if path else message)
        self.reason = message
        self.path = path


def _constant(name):
    raise JsonRejected(f"{name} is not JSON")


def _pairs(pairs):
    document = {}
    for key, value in pairs:
        if key in document:
            raise JsonRejected(f"duplicate key {key[:100]!r}")
        document[key] = value
    return document


def loads(data, max_bytes=None, max_depth=MAX_DEPTH, nul=True):
    """The value of a JSON text (bytes must be UTF-8); JsonRejected when it is refused.
    `nul=False` also refuses NUL (U+0000) in keys and strings: what is stored as database
    text (API bodies), which PostgreSQL cannot hold."""
    if max_bytes is not None and _size(data) > max_bytes:
        raise JsonRejected(f"larger than {max_bytes} bytes")
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise JsonRejected(f"not valid UTF-8 (at byte {error.start})") from None
    if data.startswith("\ufeff"):
        raise JsonRejected("starts with a byte order mark")
    try:
        value = json.loads(data, parse_constant=_constant, object_pairs_hook=_pairs)
    except RecursionError:
        raise JsonRejected(f"nested deeper than {max_depth} levels") from None
    except JsonRejected:
        raise
    except ValueError as error:
        raise JsonRejected(f"not valid JSON: {error}") from None
    check_value(value, max_depth, nul)
    return value


def _size(data) -> int:
    """Bytes, as UTF-8 for text."""
    if isinstance(data, str):
        return len(data.encode("utf-8", "surrogatepass"))
    return len(data)


def check_value(value, max_depth=MAX_DEPTH, nul=True):
    """Refuse nesting deeper than `max_depth`, lone surrogates and (unless `nul`) NUL,
    walking without recursion."""
    stack = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                raise JsonRejected(f"nested deeper than {max_depth} levels", path)
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if not _text(key, nul):
                    raise JsonRejected(_NOT_TEXT, path)
                stack.append((child, depth + 1, where[:200]))
        elif isinstance(item, list):
            if depth > max_depth:
                raise JsonRejected(f"nested deeper than {max_depth} levels", path)
            for index, child in enumerate(item):
                stack.append((child, depth + 1, f"{path}[{index}]"[:200]))
        elif isinstance(item, str) and not _text(item, nul):
            raise JsonRejected(_NOT_TEXT, path)


_NOT_TEXT = "not text: a lone surrogate or NUL (U+0000)"


def _text(value: str, nul=True) -> bool:
    if not nul and "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def top_field(error: JsonRejected) -> str | None:
    """The top-level key a rejection is under (an API body's field), if any."""
    if not error.path:
        return None
    return error.path.split(".", 1)[0].split("[", 1)[0]
