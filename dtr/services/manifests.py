"""Manifests and tags: push (validated against the repository's blobs), fetch, list.
Deleting them is `deletion.py`'s."""

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update

from ..database import db, has_written, prepared, write_transaction
from ..errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestTooLarge,
    ManifestUnknown,
    TagInvalid,
)
from ..models import Manifest, ManifestReference, RepositoryBlob, Tag, utcnow
from ..names import check_digest, check_tag, is_digest
from . import change_signals, events, immutable_tags, lookup_caches, storage_usage
from .events import Event
from .manifest_parsing import parse_manifest


@dataclass(frozen=True)
class ManifestContent:
    """A manifest as served: immutable, safe to share between threads."""

    digest: str
    media_type: str
    payload: bytes


def read_manifest_body(stream, limit):
    """Read at most `limit` bytes; a longer body is refused without reading it all."""
    payload = stream.read(limit + 1)
    if len(payload) > limit:
        raise ManifestTooLarge(f"manifest larger than {limit} bytes")
    return payload


def push_manifest(
    repository, full_name, reference, payload, content_type, pushed_by, on_stored=None
):
    """Store a manifest (under a tag or its digest); returns (digest, parsed manifest).
    `on_stored(manifest_id)` adds rows about it in the same transaction (signatures).

    Parsing, validation and the checks of what it names come first, in the caller's
    transaction (a read-only one for a registry PUT: no writer lock); then one short write
    transaction, which publishes what happened (a manifest new to the repository, a tag
    created or moved: `events.py`). A manifest the repository has already (the same bytes
    pushed again, under another tag) is not stored again, nor its references checked again
    in that transaction: garbage collection keeps what a stored manifest names (see
    `dtr/gc.py`). A tag that an immutability rule covers is never moved.
    """
    digest = _digest_of(reference, payload)
    parsed = parse_manifest(payload, content_type)
    _check_references(repository, parsed)  # fails early, without the writer lock
    stored = _manifest_id(repository, digest) is not None
    tag = None if is_digest(reference) else reference
    rule = immutable_tags.matching_rule(immutable_tags.rules_for(repository), tag) if tag else None
    pushed = Event(
        events.MANIFEST_PUSH, pushed_by, full_name, None, digest, parsed.media_type, len(payload)
    )
    quota_args = (repository, full_name, parsed, len(payload), pushed_by)
    try:
        # what it adds must fit the namespace's quota: refused early, without the writer lock
        limited = None if stored else storage_usage.check_push(*quota_args)[0]
        with write_transaction():
            manifest_id = _manifest_id(repository, digest, lock=True) if stored else None
            if manifest_id is None:  # new, or collected since the look above
                _check_references(repository, parsed, lock=True)
                # again where writers queue: two pushes near the limit cannot both pass
                warning = storage_usage.check_push(*quota_args)[1] if limited is not False else None
                manifest_id = _store_manifest(repository, digest, parsed, payload, pushed_by)
                events.publish(pushed)
                if warning is not None:
                    events.publish(warning)
            if on_stored is not None:
                on_stored(manifest_id)
            if tag is not None:
                _set_tag(repository, full_name, tag, manifest_id, pushed, rule)
            changed = has_written(db.session())
            if changed:  # other processes drop their lookups at their next request
                change_signals.announce(change_signals.CONTENT)
    except storage_usage.QuotaExceeded as refused:
        events.publish(refused.event)
        raise
    if changed:
        lookup_caches.manifests.invalidate(repository.id, announced=True)
    return digest, parsed


def store_mirrored_manifest(repository, tag, digest, payload, content_type, actor):
    """Keep a manifest a pull brought from a proxy namespace's upstream (its digest checked
    by the caller), under `tag` when given; returns its media type. Unlike a push, what it
    names need not be here: the blobs come when they are pulled."""
    parsed = parse_manifest(payload, content_type)
    with write_transaction():
        manifest_id = _manifest_id(repository, digest, lock=True)
        if manifest_id is None:
            manifest_id = _store_manifest(repository, digest, parsed, payload, actor)
        if tag is not None:
            now = utcnow()
            values = {"repository_id": repository.id, "name": tag}
            values.update(manifest_id=manifest_id, pushed_by=actor, updated_at=now)
            db.session.execute(_tag_statement(), values)
            db.session.execute(
                update(Tag)
                .where(Tag.repository_id == repository.id, Tag.name == tag)
                .values(upstream_checked_at=now)
            )
        change_signals.announce(change_signals.CONTENT)
    lookup_caches.manifests.invalidate(repository.id, announced=True)
    return parsed.media_type


def _digest_of(reference, payload):
    """The digest of `payload` (with the algorithm a digest reference names); the reference
    must be a valid tag or this digest."""
    if is_digest(reference):
        check_digest(reference)
        algorithm = reference.split(":", 1)[0]
    else:
        check_tag(reference)
        algorithm = "sha256"
    digest = f"{algorithm}:{hashlib.new(algorithm, payload).hexdigest()}"
    if is_digest(reference) and reference != digest:
        raise DigestInvalid(
            "manifest digest does not match its content", {"expected": reference, "actual": digest}
        )
    return digest


def _store_manifest(repository, digest, parsed, payload, pushed_by):
    """Insert the manifest and what it references; returns its id."""
    manifest = Manifest(
        repository_id=repository.id,
        digest=digest,
        media_type=parsed.media_type,
        artifact_type=parsed.artifact_type,
        subject_digest=parsed.subject,
        annotations=json.dumps(parsed.annotations) if parsed.annotations else None,
        size=len(payload),
        payload=payload,
        pushed_by=pushed_by,
    )
    db.session.add(manifest)
    db.session.flush()
    for kind, targets in (("blob", parsed.blobs), ("manifest", parsed.manifests)):
        for target in dict.fromkeys(targets):
            db.session.add(ManifestReference(manifest_id=manifest.id, digest=target, kind=kind))
    return manifest.id


def _check_references(repository, parsed, lock=False):
    """Every blob and manifest the manifest names must be in the repository.

    With `lock`, in the push's write transaction, which is what makes a push racing garbage
    collection safe (see `dtr/gc.py`): the collector deletes in write transactions too, so
    the push either sees the rows (and the collector, coming after, sees its references) or
    does not (MANIFEST_BLOB_UNKNOWN). On PostgreSQL the rows are locked FOR SHARE, which
    waits for a collector's FOR UPDATE. Without, before that transaction: a push naming
    something missing fails without waiting for the writer lock.
    """
    checks = (
        (_PRESENT_BLOBS, parsed.blobs, "blob unknown to registry"),
        (_PRESENT_MANIFESTS, parsed.manifests, "manifest unknown to repository"),
    )
    for (query, locked_query), digests, message in checks:
        if not digests:
            continue
        values = {"repository_id": repository.id, "digests": list(set(digests))}
        present = set(db.session.scalars(locked_query if lock else query, values))
        for digest in digests:
            if digest not in present:
                raise ManifestBlobUnknown(message, {"digest": digest})


def _present(model):
    """(query, the same locked FOR SHARE) of the given digests a repository has."""
    table = model.__table__
    query = select(table.c.digest).where(
        table.c.repository_id == bindparam("repository_id"),
        table.c.digest.in_(bindparam("digests", expanding=True)),
    )
    return query, query.with_for_update(read=True)


_PRESENT_BLOBS = _present(RepositoryBlob)
_PRESENT_MANIFESTS = _present(Manifest)


@prepared
def _tag_statement(insert):
    """Create a tag or move it."""
    statement = insert(_TAGS)
    moved = {column: statement.excluded[column] for column in _TAG_MOVES}
    return statement.on_conflict_do_update(
        index_elements=[_TAGS.c.repository_id, _TAGS.c.name], set_=moved
    )


_TAGS = Tag.__table__
_MANIFESTS = Manifest.__table__
_TAG_MOVES = ("manifest_id", "pushed_by", "updated_at")


_TAG_TARGET = select(_TAGS.c.manifest_id, _MANIFESTS.c.digest).where(
    _TAGS.c.repository_id == bindparam("repository_id"),
    _TAGS.c.name == bindparam("name"),
    _MANIFESTS.c.id == _TAGS.c.manifest_id,
)


def _set_tag(repository, full_name, name, manifest_id, pushed, rule):
    """Create or move the tag (and publish which), unless `rule` makes it immutable and it
    points elsewhere; the same manifest again only renews who pushed it and when."""
    values = {"repository_id": repository.id, "name": name}
    before = db.session.execute(_TAG_TARGET, values).first()
    moved = before is not None and before.manifest_id != manifest_id
    if moved and rule is not None:  # the write transaction rolls back
        immutable_tags.refuse(full_name, name, rule, "moved to another manifest")
    values.update(manifest_id=manifest_id, pushed_by=pushed.actor, updated_at=utcnow())
    db.session.execute(_tag_statement(), values)
    if before is None or moved:
        kind, detail = (
            (events.TAG_MOVE, {"from": before.digest}) if moved else (events.TAG_CREATE, None)
        )
        events.publish(pushed.but(kind=kind, tag=name, detail=detail))


_MANIFEST_ID = select(_MANIFESTS.c.id).where(
    _MANIFESTS.c.repository_id == bindparam("repository_id"),
    _MANIFESTS.c.digest == bindparam("digest"),
)
# PostgreSQL: a collector deleting it waits, or we wait for it
_MANIFEST_ID_LOCKED = _MANIFEST_ID.with_for_update(read=True)


def _manifest_id(repository, digest, lock=False):
    """The id of the repository's manifest of that digest, or None."""
    query = _MANIFEST_ID_LOCKED if lock else _MANIFEST_ID
    return db.session.scalar(query, {"repository_id": repository.id, "digest": digest})


def _find_by_digest(repository, digest):
    query = select(Manifest).where(
        Manifest.repository_id == repository.id, Manifest.digest == digest
    )
    return db.session.execute(query).scalar_one_or_none()


def find_manifest(repository, reference) -> Manifest:
    """The manifest of a tag or digest; a reference that is not one can name no manifest:
    MANIFEST_UNKNOWN (as the OCI conformance suite and the reference registry expect)."""
    if is_digest(reference):
        check_digest(reference)
        manifest = _find_by_digest(repository, reference)
    else:
        try:
            check_tag(reference)
        except TagInvalid:
            raise ManifestUnknown(
                "manifest unknown: not a valid tag", {"reference": reference[:200]}
            ) from None
        manifest = db.session.execute(
            select(Manifest)
            .join(Tag, Tag.manifest_id == Manifest.id)
            .where(Tag.repository_id == repository.id, Tag.name == reference)
        ).scalar_one_or_none()
    if manifest is None:
        raise ManifestUnknown("manifest unknown", {"reference": reference})
    return manifest


def fetch_manifest(repository, reference) -> ManifestContent:
    """The manifest a tag or digest names, through the lookup cache."""
    cache = lookup_caches.manifests
    cached = cache.get(repository.id, reference)
    if cached is not None:
        return cached
    generation = cache.generation(repository.id)
    manifest = find_manifest(repository, reference)
    content = ManifestContent(manifest.digest, manifest.media_type, manifest.payload)
    cache.put(repository.id, reference, content, generation)
    return content


def stored_manifest(repository, reference) -> ManifestContent | None:
    """`fetch_manifest`, or None when the reference names nothing in the repository."""
    try:
        return fetch_manifest(repository, reference)
    except ManifestUnknown:
        return None


def stored_digest(repository, reference) -> str | None:
    content = stored_manifest(repository, reference)
    return content.digest if content is not None else None


def list_tags(repository, limit=None, last=None):
    query = select(Tag.name).where(Tag.repository_id == repository.id).order_by(Tag.name)
    if last:
        query = query.where(Tag.name > last)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def list_referrers(repository, digest, artifact_type=None):
    """Descriptors of the manifests whose subject is `digest`."""
    check_digest(digest)
    query = select(Manifest).where(
        Manifest.repository_id == repository.id, Manifest.subject_digest == digest
    )
    if artifact_type:
        query = query.where(Manifest.artifact_type == artifact_type)
    descriptors = []
    for manifest in db.session.scalars(query.order_by(Manifest.id)):
        descriptor = {
            "mediaType": manifest.media_type,
            "digest": manifest.digest,
            "size": manifest.size,
        }
        if manifest.artifact_type:
            descriptor["artifactType"] = manifest.artifact_type
        if manifest.annotations:
            descriptor["annotations"] = json.loads(manifest.annotations)
        descriptors.append(descriptor)
    return descriptors


def list_tag_details(repository):
    """Tags with their manifest's digest, type and size, who pushed them and when."""
    rows = db.session.execute(
        select(Tag, Manifest)
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .where(Tag.repository_id == repository.id)
        .order_by(Tag.name)
    )
    return [
        {
            "name": tag.name,
            "digest": manifest.digest,
            "mediaType": manifest.media_type,
            "manifestSize": manifest.size,
            "pushedBy": tag.pushed_by,
            "updatedAt": tag.updated_at.isoformat() + "Z",
            "pullCount": tag.pull_count,
            "lastPulledAt": tag.last_pulled_at.isoformat() + "Z" if tag.last_pulled_at else None,
        }
        for tag, manifest in rows
    ]
