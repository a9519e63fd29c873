"""Docker Content Trust data of repositories: TUF metadata per GUN and role (every version,
so clients can fetch by checksum or version), the server's timestamp and snapshot keys
(encrypted at rest), updates validated then stored in one transaction, and who signed a tag.

The encryption secret is the configuration's TRUST_KEYS_SECRET (DTR_TRUST_KEYS_SECRET),
else the SECRET_KEY every replica shares (services/instance_keys.py).
"""

import threading
import time
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import and_, delete, func, select
from sqlalchemy.exc import IntegrityError

from ..database import db, set_read_only_transactions
from ..errors import DomainError
from ..models import TrustMetadata, TrustServerKey
from ..trust.keys import ServerKey
from ..trust.metadata import SNAPSHOT, TIMESTAMP, parse_metadata
from ..trust.signers import released_signers, verified_targets
from ..trust.validation import UpdateInvalid, refreshed, validate_update
from . import audit, instance_keys

SERVER_ROLES = (TIMESTAMP, SNAPSHOT)


class TrustUpdateInvalid(DomainError):
    """An update refused by validation; nothing was stored."""


def _now():
    return datetime.now(UTC)


# --- reading ---------------------------------------------------------------------------


def metadata_file(repository_id, gun, role, checksum=None, version=None) -> bytes | None:
    """The bytes of a role's metadata: the current version, or the one with this sha256
    checksum, or this version."""
    query = select(TrustMetadata.data).where(
        TrustMetadata.repository_id == repository_id,
        TrustMetadata.gun == gun,
        TrustMetadata.role == role,
    )
    if checksum is not None:
        query = query.where(TrustMetadata.checksum == checksum.lower())
    elif version is not None:
        query = query.where(TrustMetadata.version == version)
    return db.session.scalar(query.order_by(TrustMetadata.version.desc()).limit(1))


def _current_rows(repository_id, gun=None):
    """(id, gun, role, checksum) of the current version of every role."""
    conditions = [TrustMetadata.repository_id == repository_id]
    if gun is not None:
        conditions.append(TrustMetadata.gun == gun)
    latest = (
        select(TrustMetadata.gun, TrustMetadata.role, func.max(TrustMetadata.version).label("v"))
        .where(*conditions)
        .group_by(TrustMetadata.gun, TrustMetadata.role)
        .subquery()
    )
    return db.session.execute(
        select(TrustMetadata.id, TrustMetadata.gun, TrustMetadata.role, TrustMetadata.checksum)
        .join(
            latest,
            and_(
                TrustMetadata.gun == latest.c.gun,
                TrustMetadata.role == latest.c.role,
                TrustMetadata.version == latest.c.v,
            ),
        )
        .where(*conditions)
    ).all()


def _load(rows) -> dict:
    """role -> Metadata for rows of one GUN."""
    ids = [row.id for row in rows]
    loaded = db.session.execute(
        select(TrustMetadata.role, TrustMetadata.data).where(TrustMetadata.id.in_(ids))
    ).all()
    return {role: parse_metadata(role, data) for role, data in loaded}


def current_state(repository_id, gun) -> dict:
    """role -> Metadata: the current version of each role of a GUN."""
    rows = _current_rows(repository_id, gun)
    return _load(rows) if rows else {}


def has_trust_data(repository_id, gun) -> bool:
    return bool(_current_rows(repository_id, gun))


# --- the server's keys -------------------------------------------------------------------


def _secret():
    return current_app.config.get("TRUST_KEYS_SECRET") or instance_keys.secret_key()


def _context(repository_id, gun, role):
    return f"{repository_id}\n{gun}\n{role}"


def server_keys(repository_id, gun) -> dict:
    """role -> ServerKey held for a GUN."""
    rows = db.session.scalars(
        select(TrustServerKey).where(
            TrustServerKey.repository_id == repository_id, TrustServerKey.gun == gun
        )
    )
    secret = _secret()
    return {
        row.role: ServerKey.unseal(
            row.sealed_private_key, secret, _context(repository_id, gun, row.role)
        )
        for row in rows
    }


def server_public_key(repository_id, gun, role) -> dict:
    """The TUF public key object of the server's `role` key for a GUN, created on first
    request (the client puts it in root)."""
    key = server_keys(repository_id, gun).get(role)
    if key is not None:
        return key.public_object
    _start_writing()
    key = server_keys(repository_id, gun).get(role)
    if key is None:
        key = ServerKey.generate()
        db.session.add(
            TrustServerKey(
                repository_id=repository_id,
                gun=gun,
                role=role,
                key_id=key.key_id,
                sealed_private_key=key.seal(_secret(), _context(repository_id, gun, role)),
            )
        )
        try:
            db.session.commit()
        except IntegrityError:  # another process created it first
            db.session.rollback()
            key = server_keys(repository_id, gun)[role]
    return key.public_object


def _start_writing():
    """End the request's read transaction; the next one is a write transaction (SQLite:
    BEGIN IMMEDIATE), for the writes a GET may need (a key, an expired timestamp)."""
    db.session.commit()
    set_read_only_transactions(False)


# --- writing -----------------------------------------------------------------------------


def update_trust_data(repository_id, gun, uploads: dict, actor=None, target=None):
    """Validate an update (role -> bytes) against what is stored and store it with the
    server-signed snapshot/timestamp, all in one transaction; TrustUpdateInvalid when
    refused (nothing stored)."""
    current = current_state(repository_id, gun)
    keys = server_keys(repository_id, gun)
    try:
        accepted = validate_update(gun, current, uploads, keys, _now())
    except UpdateInvalid as error:
        db.session.rollback()
        raise TrustUpdateInvalid(error.message, {"gun": gun}) from None
    _store(repository_id, gun, accepted)
    roles = [m.role for m in accepted if m.role not in SERVER_ROLES or m.role in uploads]
    audit.record(actor, "trust.update", target or gun, {"gun": gun, "roles": roles})
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise TrustUpdateInvalid(
            "a concurrent update stored a newer version: fetch the latest and retry",
            {"gun": gun},
        ) from None


def _store(repository_id, gun, metadata: list):
    for item in metadata:
        db.session.add(
            TrustMetadata(
                repository_id=repository_id,
                gun=gun,
                role=item.role,
                version=item.version,
                checksum=item.checksum,
                data=item.data,
            )
        )


def refresh_server_metadata(repository_id, gun) -> bool:
    """Re-sign an expired timestamp (and server-signed snapshot); True when it did."""
    rows = [row for row in _current_rows(repository_id, gun) if row.role in SERVER_ROLES]
    if not rows or not _refresh_due(_load(rows)):
        return False
    _start_writing()
    state = current_state(repository_id, gun)  # again, inside the write transaction
    new = refreshed(state, server_keys(repository_id, gun), _now())
    if not new:
        db.session.rollback()
        return False
    _store(repository_id, gun, new)
    try:
        db.session.commit()
    except IntegrityError:  # another process re-signed it first
        db.session.rollback()
        return False
    return True


def _refresh_due(state: dict) -> bool:
    now = _now()
    return any(role in state and state[role].expired(now) for role in SERVER_ROLES)


def delete_trust_data(repository_id, gun=None):
    """Delete a repository's trust data (of one GUN, or all) and the server's keys for it;
    joins the caller's transaction."""
    for model in (TrustMetadata, TrustServerKey):
        statement = delete(model).where(model.repository_id == repository_id)
        if gun is not None:
            statement = statement.where(model.gun == gun)
        db.session.execute(statement)
    _verified_cache.clear()


def delete_gun(repository_id, gun, actor=None, target=None):
    """DELETE of a GUN's trust data (Notary's `delete --remote`)."""
    delete_trust_data(repository_id, gun)
    audit.record(actor, "trust.delete", target or gun, {"gun": gun})
    db.session.commit()


# --- who signed a tag --------------------------------------------------------------------


def dct_signers(repository, tag, digest) -> list:
    """The DCT signers of `tag` at `digest` in a repository (a Repository, a RepositoryRef
    or its name `ns/repo`), as `docker trust inspect` names them: delegation names
    (targets/alice -> "alice"), or "Repo Admin" when only the repository key signed it.
    [] when no valid, unexpired targets or targets/releases metadata maps the tag to the
    digest."""
    repository_id = getattr(repository, "id", None)
    if repository_id is None and isinstance(repository, str):
        from .repositories import lookup_repository

        ref = lookup_repository(repository)
        repository_id = ref.id if ref else None
    if repository_id is None:
        return []
    rows_by_gun: dict = {}
    for row in _current_rows(repository_id):
        if row.role not in SERVER_ROLES:
            rows_by_gun.setdefault(row.gun, []).append(row)
    signers = set()
    for rows in rows_by_gun.values():
        signers.update(released_signers(_verified(rows), tag, digest))
    return sorted(signers)


class _VerifiedCache:
    """Verified targets metadata by the checksums it was built from, until it expires."""

    def __init__(self, size=256, seconds=300):
        self.size, self.seconds = size, seconds
        self.entries: dict = {}
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            hit = self.entries.get(key)
        if hit and hit[1] > time.monotonic() and hit[2] > _now():
            return hit[0]
        return None

    def put(self, key, verified: dict):
        expires = min((m.expires for m in verified.values()), default=_now())
        with self.lock:
            if len(self.entries) >= self.size:
                self.entries.clear()
            self.entries[key] = (verified, time.monotonic() + self.seconds, expires)

    def clear(self):
        with self.lock:
            self.entries.clear()


_verified_cache = _VerifiedCache()


def _verified(rows) -> dict:
    key = tuple(sorted((row.role, row.checksum) for row in rows))
    verified = _verified_cache.get(key)
    if verified is None:
        verified = verified_targets(_load(rows), _now())
        _verified_cache.put(key, verified)
    return verified
