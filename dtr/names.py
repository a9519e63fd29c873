"""Validation of repository names, tags and digests (OCI distribution spec grammar)."""

import re

from .errors import DigestInvalid, NameInvalid, TagInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
# \Z, not $: "$" also matches before a final newline, which would let "name\n" through
REPOSITORY_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*\Z")
ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*\Z")
TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\Z")
DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})\Z")
MAX_NAME_LENGTH = 255


def _no_nested_names(namespace: str) -> bool:
    return False


# Whether a namespace's repository names may have more components (`hub/library/alpine`):
# the proxy namespaces', which keep the upstream's names (set by services/proxy_caches.py).
has_nested_names = _no_nested_names


def split_repository_name(name: str) -> tuple[str, str]:
    """Check a `namespace/name` repository name and return its two parts; in a proxy
    namespace the name may have several components (`library/alpine`)."""
    if len(name) > MAX_NAME_LENGTH or not REPOSITORY_NAME.match(name):
        raise NameInvalid(
            "invalid repository name",
            {"name": name[:300], "rule": "lowercase components [a-z0-9] joined by . _ __ -"},
        )
    parts = name.split("/")
    if len(parts) > 2 and has_nested_names(parts[0]):
        return parts[0], name.split("/", 1)[1]
    if len(parts) != 2:
        raise NameInvalid(
            "repository names are NAMESPACE/NAME (a user or an organization, then the name)",
            {"name": name[:300]},
        )
    return parts[0], parts[1]


def check_account_name(name: str) -> str:
    if not name or len(name) > MAX_NAME_LENGTH - 2 or not ACCOUNT_NAME.match(name):
        raise NameInvalid(
            "invalid name: use lowercase letters and digits, then also - _ . (at most 253)",
            {"name": name[:300]},
        )
    return name


def is_digest(reference: str) -> bool:
    return ":" in reference


def check_digest(digest: str | None) -> str:
    if not digest or not DIGEST.match(digest):
        raise DigestInvalid("invalid digest: expected sha256:<64 hex> or sha512:<128 hex>")
    return digest


def check_tag(tag: str) -> str:
    if not TAG.match(tag):
        raise TagInvalid("invalid tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", {"tag": tag[:200]})
    return tag


def row_id(value) -> int | None:
    """A row's id given in a URL (at most 9 ASCII digits: `int()` also reads other scripts'
    digits, such as "١"), else None: what no row has is unknown (404), never a database
    error."""
    if isinstance(value, str) and value.isascii() and value.isdecimal() and len(value) < 10:
        return int(value)
    return None
