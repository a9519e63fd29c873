"""Who signed a tag, as `docker trust inspect` tells it.

A tag is signed ("released") when the targets role or the targets/releases delegation maps
it to the digest; its signers are the other delegations (targets/NAME -> NAME) that map it
to the same digest, or "Repo Admin" when none does. Only metadata that verifies now counts:
root signed by its root keys, each targets role by the keys its parent gives it, nothing
expired.
"""

from datetime import datetime

from .metadata import ROOT, TARGETS, is_delegation, parent_role, target_sha256_hex
from .validation import (
    UpdateInvalid,
    allows,
    delegation_chain,
    delegation_of,
    root_role_keys,
    valid_signature_count,
)

RELEASES = "targets/releases"
REPO_ADMIN = "Repo Admin"


def verified_targets(state: dict, now: datetime) -> dict:
    """role -> Metadata of the targets roles of `state` that verify now."""
    root = state.get(ROOT)
    if root is None or root.expired(now):
        return {}
    verified = {ROOT: root}
    roles = sorted((r for r in state if r == TARGETS or is_delegation(r)), key=_depth)
    for role in [ROOT, *roles]:
        metadata = state[role]
        if metadata.expired(now):
            continue
        try:
            role_keys = _keys_of(role, verified)
        except UpdateInvalid:
            continue
        if role_keys and valid_signature_count(metadata, role_keys) >= role_keys.threshold:
            verified[role] = metadata
        elif role == ROOT:
            return {}
    del verified[ROOT]
    return verified


def _depth(role):
    return role.count("/")


def _keys_of(role, verified):
    """The keys `role` must be signed with: from root, or from its verified parent."""
    if role in (ROOT, TARGETS):
        return root_role_keys(verified[ROOT], role)
    parent = verified.get(parent_role(role))
    return delegation_of(parent, role).keys if parent else None


def released_signers(verified: dict, tag: str, digest: str) -> list:
    """The signers of `tag` at `digest` (sha256:<hex>); [] when it is not signed."""
    wanted = digest.removeprefix("sha256:")

    def maps(role):
        target = (verified[role].signed.get("targets") or {}).get(tag)
        if target is None or target_sha256_hex(target) != wanted:
            return False
        try:
            return all(allows(d, tag) for d in delegation_chain(verified, role))
        except UpdateInvalid:
            return False

    if not any(maps(role) for role in (TARGETS, RELEASES) if role in verified):
        return []
    names = {
        role.removeprefix("targets/")
        for role in verified
        if role not in (TARGETS, RELEASES) and maps(role)
    }
    return sorted(names) or [REPO_ADMIN]
