"""What an update of a GUN's trust data must satisfy before it is stored, and the snapshot
and timestamp the server signs for it (Notary server's `validateUpdate`).

Every uploaded role: valid structure, a version above the stored one, not expired, signed by
a threshold of its keys (root: by its own root keys and by the current root's; targets: by
the root's targets keys; a delegation: by the keys its parent delegates to it, and only
within the paths delegated). Root keys are certificates for the GUN. A client-signed
snapshot must hash exactly the roles the repository has after the update; without one, the
server signs the snapshot when it holds the snapshot key. The timestamp is always the
server's.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from .keys import KeyInvalid, PublicKey, ServerKey, load_public_key
from .metadata import (
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    TOP_ROLES,
    TYPES,
    Metadata,
    MetadataInvalid,
    file_meta,
    file_meta_matches,
    format_time,
    is_delegation,
    parent_role,
    parse_metadata,
    signed_document,
)

SNAPSHOT_LIFETIME = timedelta(days=3 * 365)  # Notary's defaults
TIMESTAMP_LIFETIME = timedelta(days=14)


class UpdateInvalid(Exception):
    """The update is refused; `message` says which role and why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RoleKeys:
    """The keys a role's metadata must be signed with, and how many of them."""

    keys: dict  # key id -> PublicKey
    threshold: int


@dataclass(frozen=True)
class Delegation:
    keys: RoleKeys
    paths: list | None  # name prefixes; None: path_hash_prefixes instead
    path_hash_prefixes: list | None


def root_role_keys(root: Metadata, role: str) -> RoleKeys:
    """The keys root gives `role` (one of the four top-level roles)."""
    roles, keys = root.signed.get("roles"), root.signed.get("keys")
    if not isinstance(roles, dict) or not isinstance(keys, dict):
        raise UpdateInvalid("root: needs 'keys' and 'roles' objects")
    return _role_keys("root", role, roles.get(role), keys)


def _role_keys(where, role, entry, keys) -> RoleKeys:
    if not isinstance(entry, dict):
        raise UpdateInvalid(f"{where}: no {role} role")
    key_ids, threshold = entry.get("keyids"), entry.get("threshold")
    if not _string_list(key_ids) or not key_ids:
        raise UpdateInvalid(f"{where}: the {role} role must list its key ids")
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise UpdateInvalid(f"{where}: the {role} role's threshold must be at least 1")
    if threshold > len(set(key_ids)):
        raise UpdateInvalid(f"{where}: the {role} role's threshold exceeds its keys")
    if not isinstance(keys, dict):
        raise UpdateInvalid(f"{where}: 'keys' must be an object")
    loaded = {}
    for key_id in key_ids:
        if key_id not in keys:
            raise UpdateInvalid(f"{where}: the {role} role names a key it does not include")
        try:
            loaded[key_id] = load_public_key(keys[key_id], key_id)
        except KeyInvalid as error:
            raise UpdateInvalid(f"{where}: key of {role}: {error}") from None
    return RoleKeys(loaded, threshold)


def delegation_of(parent: Metadata, role: str) -> Delegation:
    """How `parent` delegates to `role`; UpdateInvalid when it does not."""
    delegations = parent.signed.get("delegations") or {}
    entries = delegations.get("roles") if isinstance(delegations, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("name") == role:
            keys = _role_keys(parent.role, role, entry, delegations.get("keys") or {})
            paths, prefixes = entry.get("paths"), entry.get("path_hash_prefixes")
            if not _string_list(paths) and not _string_list(prefixes):
                raise UpdateInvalid(f"{parent.role}: the delegation {role} has no paths")
            return Delegation(keys, paths if _string_list(paths) else None, prefixes)
    raise UpdateInvalid(f"{role}: not delegated by {parent.role}")


def _string_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def allows(delegation: Delegation, target: str) -> bool:
    if delegation.paths is not None:
        return any(target.startswith(prefix) for prefix in delegation.paths)
    digest = hashlib.sha256(target.encode()).hexdigest()
    return any(digest.startswith(prefix) for prefix in delegation.path_hash_prefixes)


def valid_signature_count(metadata: Metadata, role_keys: RoleKeys) -> int:
    """How many distinct keys of the role signed the metadata."""
    message = metadata.signed_bytes()
    valid = set()
    for signature in metadata.signatures:
        key: PublicKey | None = role_keys.keys.get(signature["keyid"])
        if key is not None and key.key_id not in valid and key.verifies(signature, message):
            valid.add(key.key_id)
    return len(valid)


def check_signatures(metadata: Metadata, role_keys: RoleKeys, whose="its keys"):
    count = valid_signature_count(metadata, role_keys)
    if count < role_keys.threshold:
        raise UpdateInvalid(
            f"{metadata.role}: {count} valid signature(s) by {whose}, {role_keys.threshold} needed"
        )


def validate_update(
    gun: str,
    current: dict,
    uploads: dict,
    server_keys: dict,
    now: datetime,
) -> list:
    """The metadata to store for an update of `gun`.

    `current`: role -> Metadata stored now; `uploads`: role -> bytes sent by the client;
    `server_keys`: role -> ServerKey the server holds for this GUN (timestamp, maybe
    snapshot). Returns the accepted uploads (unchanged re-uploads left out), then the
    snapshot and the timestamp. Raises UpdateInvalid.
    """
    parsed = {}
    for role, data in uploads.items():
        if role == TIMESTAMP:
            raise UpdateInvalid("timestamp: the server signs the timestamp, do not upload it")
        try:
            metadata = parse_metadata(role, data)
        except MetadataInvalid as error:
            raise UpdateInvalid(str(error)) from None
        if role in current and current[role].data == metadata.data:
            continue
        parsed[role] = metadata

    state, accepted = dict(current), []
    if ROOT in parsed:
        _check_root(gun, parsed[ROOT], current.get(ROOT), now)
        state[ROOT] = parsed[ROOT]
        accepted.append(parsed[ROOT])
    elif ROOT not in state:
        raise UpdateInvalid("root: the first update of a repository's trust data needs root")
    _check_timestamp_key(state[ROOT], server_keys.get(TIMESTAMP))

    for role in sorted((r for r in parsed if r == TARGETS or is_delegation(r)), key=_depth):
        _check_targets(parsed[role], state, current.get(role), now)
        state[role] = parsed[role]
        accepted.append(parsed[role])
    if TARGETS not in state:
        raise UpdateInvalid("targets: the first update of a repository's trust data needs it")

    if SNAPSHOT in parsed:
        snapshot = parsed[SNAPSHOT]
        _check_snapshot(snapshot, state, current.get(SNAPSHOT), set(parsed), now)
    else:
        snapshot = server_snapshot(state, current.get(SNAPSHOT), server_keys.get(SNAPSHOT), now)
    state[SNAPSHOT] = snapshot
    accepted.append(snapshot)
    accepted.append(server_timestamp(snapshot, current.get(TIMESTAMP), server_keys[TIMESTAMP], now))
    return accepted


def _depth(role):
    return role.count("/")


def _check_fresh(metadata: Metadata, current: Metadata | None, now):
    if current is not None and metadata.version <= current.version:
        raise UpdateInvalid(
            f"{metadata.role}: version {metadata.version} is not newer than the stored "
            f"version {current.version}"
        )
    if metadata.expired(now):
        raise UpdateInvalid(f"{metadata.role}: expired on {metadata.signed['expires']}")


def _check_root(gun, root: Metadata, current: Metadata | None, now):
    _check_fresh(root, current, now)
    roles = {role: root_role_keys(root, role) for role in TOP_ROLES}
    for key in roles[ROOT].keys.values():
        problem = key.certificate_problem(gun, now)
        if problem:
            raise UpdateInvalid(f"root: {problem}")
    check_signatures(root, roles[ROOT])
    if current is not None:
        check_signatures(root, root_role_keys(current, ROOT), "the current root's keys")


def _check_timestamp_key(root: Metadata, key: ServerKey | None):
    role_keys = root_role_keys(root, TIMESTAMP)
    if key is None or key.key_id not in role_keys.keys or role_keys.threshold != 1:
        raise UpdateInvalid(
            "root: the timestamp role must have this server's timestamp key (GET "
            "_trust/tuf/timestamp.key) and threshold 1"
        )


def _check_targets(metadata: Metadata, state: dict, current: Metadata | None, now):
    _check_fresh(metadata, current, now)
    role = metadata.role
    if role == TARGETS:
        check_signatures(metadata, root_role_keys(state[ROOT], TARGETS))
        chain = []
    else:
        parent = state.get(parent_role(role))
        if parent is None:
            raise UpdateInvalid(f"{role}: its parent role {parent_role(role)} does not exist")
        delegation = delegation_of(parent, role)
        check_signatures(metadata, delegation.keys)
        chain = delegation_chain(state, role)
    targets = metadata.signed.get("targets")
    if not isinstance(targets, dict):
        raise UpdateInvalid(f"{role}: 'targets' must be an object")
    for name, target in targets.items():
        if not isinstance(target, dict) or not _valid_target(target):
            raise UpdateInvalid(f"{role}: target {name!r} needs a length and a sha256 hash")
        if not all(allows(d, name) for d in chain):
            raise UpdateInvalid(f"{role}: target {name!r} is outside the paths delegated to it")
    _check_delegations(metadata)


def _valid_target(target) -> bool:
    length, hashes = target.get("length"), target.get("hashes")
    return (
        isinstance(length, int)
        and length >= 0
        and isinstance(hashes, dict)
        and isinstance(hashes.get("sha256"), str)
    )


def _check_delegations(metadata: Metadata):
    delegations = metadata.signed.get("delegations")
    if delegations is None:
        return
    if not isinstance(delegations, dict) or not isinstance(delegations.get("roles", []), list):
        raise UpdateInvalid(f"{metadata.role}: 'delegations' must have a list of roles")
    for entry in delegations.get("roles", []):
        name = entry.get("name") if isinstance(entry, dict) else None
        if (
            not isinstance(name, str)
            or not is_delegation(name)
            or parent_role(name) != metadata.role
        ):
            raise UpdateInvalid(f"{metadata.role}: may only delegate to its own child roles")
        delegation_of(metadata, name)  # keys, threshold and paths are usable


def delegation_chain(state: dict, role: str) -> list:
    """The delegations from `targets` down to `role` (each restricts the paths below it)."""
    chain = []
    while role != TARGETS:
        parent = state.get(parent_role(role))
        if parent is None:
            raise UpdateInvalid(f"{role}: its parent role {parent_role(role)} does not exist")
        chain.append(delegation_of(parent, role))
        role = parent_role(role)
    return chain


def _check_snapshot(snapshot: Metadata, state, current, uploaded: set, now):
    _check_fresh(snapshot, current, now)
    check_signatures(snapshot, root_role_keys(state[ROOT], SNAPSHOT))
    meta = snapshot.signed.get("meta")
    if not isinstance(meta, dict):
        raise UpdateInvalid("snapshot: 'meta' must be an object")
    covered = snapshot_roles(state)
    for role in covered:
        if not file_meta_matches(meta.get(role), state[role].data):
            which = "uploaded" if role in uploaded else "stored"
            raise UpdateInvalid(f"snapshot: its hash of {role} does not match the {which} {role}")
    unknown = sorted(set(meta) - set(covered))
    if unknown:
        raise UpdateInvalid(f"snapshot: lists roles the repository does not have: {unknown}")


def snapshot_roles(state: dict) -> list:
    """The roles a snapshot describes: all but snapshot and timestamp."""
    return sorted(role for role in state if role not in (SNAPSHOT, TIMESTAMP))


def _sign(role, signed: dict, key: ServerKey) -> Metadata:
    metadata = Metadata(role, b"", signed, ())
    signature = key.sign(metadata.signed_bytes())
    return Metadata(role, signed_document(signed, [signature]), signed, (signature,))


def server_snapshot(state: dict, current: Metadata | None, key: ServerKey | None, now) -> Metadata:
    """A new snapshot of `state`, signed with the server's snapshot key."""
    role_keys = root_role_keys(state[ROOT], SNAPSHOT)
    if key is None or key.key_id not in role_keys.keys or role_keys.threshold != 1:
        raise UpdateInvalid(
            "snapshot: not in the update, and the server does not hold this repository's "
            "snapshot key"
        )
    signed = {
        "_type": TYPES[SNAPSHOT],
        "expires": format_time(now + SNAPSHOT_LIFETIME),
        "meta": {role: file_meta(state[role].data) for role in snapshot_roles(state)},
        "version": current.version + 1 if current else 1,
    }
    return _sign(SNAPSHOT, signed, key)


def server_timestamp(snapshot: Metadata, current: Metadata | None, key: ServerKey, now) -> Metadata:
    signed = {
        "_type": TYPES[TIMESTAMP],
        "expires": format_time(now + TIMESTAMP_LIFETIME),
        "meta": {SNAPSHOT: file_meta(snapshot.data)},
        "version": current.version + 1 if current else 1,
    }
    return _sign(TIMESTAMP, signed, key)


def refreshed(state: dict, server_keys: dict, now) -> list:
    """New server-signed metadata for a GUN whose timestamp (or server-signed snapshot) has
    expired: [] when nothing is due."""
    timestamp, snapshot = state.get(TIMESTAMP), state.get(SNAPSHOT)
    if timestamp is None or snapshot is None or TIMESTAMP not in server_keys:
        return []
    new = []
    snapshot_key = server_keys.get(SNAPSHOT)
    if snapshot.expired(now) and snapshot_key and _holds(state[ROOT], SNAPSHOT, snapshot_key):
        snapshot = server_snapshot(state, snapshot, snapshot_key, now)
        new.append(snapshot)
    if new or timestamp.expired(now):
        new.append(server_timestamp(snapshot, timestamp, server_keys[TIMESTAMP], now))
    return new


def _holds(root: Metadata, role: str, key: ServerKey) -> bool:
    try:
        return key.key_id in root_role_keys(root, role).keys
    except UpdateInvalid:
        return False
