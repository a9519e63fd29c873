"""Trusted public keys: a signature by one of them makes an image signed (`signatures.py`).

A key belongs to a repository (registered by those with admin level on it) or to a whole
namespace (registered by administrators, the user whose namespace it is, and owners of the
organization or teams with an admin-level namespace grant: `access.may_create_repository`).
Anyone who may see the repository, or any logged-in user for a namespace, may list them:
they are public keys. Every change verifies the signatures concerned again.
"""

import re

from sqlalchemy import delete, select

from .. import access
from ..database import db
from ..errors import InvalidInput, NameTaken
from ..models import TrustedKey
from . import audit
from .callers import require_logged_in
from .namespace_scopes import applying_to, of_scope, own_first
from .repositories import administered_namespace, namespace_or_404, visible_repository
from .signature_formats import KeyInvalid, load_public_key
from .signatures import recheck_signatures

KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def list_repository_keys(identity, full_name) -> list[TrustedKey]:
    """The repository's own keys, then its namespace's (which it trusts too)."""
    repository = visible_repository(identity, full_name)
    return list(
        db.session.scalars(
            select(TrustedKey)
            .where(applying_to(TrustedKey, repository.namespace_id, repository.id))
            .order_by(own_first(TrustedKey), TrustedKey.name)
        )
    )


def add_repository_key(identity, full_name, name, pem) -> TrustedKey:
    repository = visible_repository(identity, full_name, access.ADMIN)
    return _add(identity, full_name, repository.namespace_id, repository.id, name, pem)


def delete_repository_key(identity, full_name, name):
    """Idempotent: a key of that name that is not there is already deleted."""
    repository = visible_repository(identity, full_name, access.ADMIN)
    _delete(identity, full_name, repository.namespace_id, repository.id, name)


def list_namespace_keys(identity, namespace) -> list[TrustedKey]:
    require_logged_in(identity)
    account = namespace_or_404(namespace)
    return list(
        db.session.scalars(
            select(TrustedKey)
            .where(of_scope(TrustedKey, account.id, None))
            .order_by(TrustedKey.name)
        )
    )


def add_namespace_key(identity, namespace, name, pem) -> TrustedKey:
    account = administered_namespace(identity, namespace, "the trusted keys")
    return _add(identity, namespace, account.id, None, name, pem)


def delete_namespace_key(identity, namespace, name):
    account = administered_namespace(identity, namespace, "the trusted keys")
    _delete(identity, namespace, account.id, None, name)


def _add(identity, target, namespace_id, repository_id, name, pem) -> TrustedKey:
    if not isinstance(name, str) or not KEY_NAME.match(name):
        raise InvalidInput(
            "name: letters, digits, . _ - (at most 100, starting with a letter or digit)",
            {"field": "name"},
        )
    try:
        public_key = load_public_key(pem)
    except KeyInvalid as error:
        raise InvalidInput(str(error), {"field": "pem"}) from None
    existing = db.session.execute(
        select(TrustedKey.name, TrustedKey.fingerprint).where(
            of_scope(TrustedKey, namespace_id, repository_id)
        )
    ).all()
    for other, fingerprint in existing:
        if other == name:
            raise NameTaken(f"a trusted key named {name!r} exists already", {"name": name})
        if fingerprint == public_key.fingerprint:
            raise NameTaken(f"this key is trusted already, as {other!r}", {"name": other})
    key = TrustedKey(
        namespace_id=namespace_id,
        repository_id=repository_id,
        name=name,
        pem=pem.strip() + "\n",
        algorithm=public_key.algorithm,
        fingerprint=public_key.fingerprint,
        created_by=identity.name,
    )
    db.session.add(key)
    db.session.flush()
    recheck_signatures(namespace_id, None if repository_id is None else [repository_id])
    audit.record(
        identity.name,
        "trustedKey.add",
        target,
        {"name": name, "fingerprint": public_key.fingerprint},
    )
    db.session.commit()
    return key


def _delete(identity, target, namespace_id, repository_id, name):
    deleted = db.session.execute(
        delete(TrustedKey).where(
            of_scope(TrustedKey, namespace_id, repository_id), TrustedKey.name == name
        )
    ).rowcount
    if not deleted:
        db.session.rollback()
        return
    recheck_signatures(namespace_id, None if repository_id is None else [repository_id])
    audit.record(identity.name, "trustedKey.delete", target, {"name": name})
    db.session.commit()
