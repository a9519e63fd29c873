"""Manifests and tags: push (validated against the repository's blobs), fetch, list.
Deleting them is `deletion.py`'s."""

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select

from ..database import db
from ..errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestTooLarge,
    ManifestUnknown,
    TagInvalid,
)
from ..models import Manifest, ManifestReference, RepositoryBlob, Tag, utcnow
from ..names import check_digest, check_tag, is_digest
from . import lookup_caches
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


def push_manifest(repository, reference, payload, content_type, pushed_by, on_stored=None):
    """Store a manifest (under a tag or its digest); returns (digest, parsed manifest).
    `on_stored(manifest)` adds rows about it in the same transaction (signatures)."""
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
    parsed = parse_manifest(payload, content_type)
    _check_references(repository, parsed)
    manifest = _find_by_digest(repository, digest, lock=True)
    if manifest is None:
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
        for target in dict.fromkeys(parsed.blobs):
            db.session.add(ManifestReference(manifest_id=manifest.id, digest=target, kind="blob"))
        for target in dict.fromkeys(parsed.manifests):
            db.session.add(
                ManifestReference(manifest_id=manifest.id, digest=target, kind="manifest")
            )
    if on_stored is not None:
        on_stored(manifest)
    if not is_digest(reference):
        _set_tag(repository, reference, manifest, pushed_by)
    db.session.commit()
    lookup_caches.manifests.invalidate(repository.id)
    return digest, parsed


def _check_references(repository, parsed):
    """Every blob and manifest the manifest names must be in the repository.

    This runs in the push's write transaction, which is what makes a push racing garbage
    collection safe (see `dtr/gc.py`): the collector deletes in write transactions too, so
    the push either sees the rows (and the collector, coming after, sees its references) or
    does not (MANIFEST_BLOB_UNKNOWN). On PostgreSQL the rows are locked FOR SHARE, which
    waits for a collector's FOR UPDATE.
    """
    checks = (
        (RepositoryBlob, parsed.blobs, "blob unknown to registry"),
        (Manifest, parsed.manifests, "manifest unknown to repository"),
    )
    for model, digests, message in checks:
        if not digests:
            continue
        present = set(
            db.session.scalars(
                select(model.digest)
                .where(model.repository_id == repository.id, model.digest.in_(set(digests)))
                .with_for_update(read=True)
            )
        )
        for digest in digests:
            if digest not in present:
                raise ManifestBlobUnknown(message, {"digest": digest})


def _set_tag(repository, name, manifest, pushed_by):
    tag = db.session.execute(
        select(Tag).where(Tag.repository_id == repository.id, Tag.name == name)
    ).scalar_one_or_none()
    if tag is None:
        db.session.add(
            Tag(
                repository_id=repository.id, name=name, manifest_id=manifest.id, pushed_by=pushed_by
            )
        )
    else:
        tag.manifest_id = manifest.id
        tag.pushed_by = pushed_by
        tag.updated_at = utcnow()


def _find_by_digest(repository, digest, lock=False):
    query = select(Manifest).where(
        Manifest.repository_id == repository.id, Manifest.digest == digest
    )
    if lock:  # PostgreSQL: a collector deleting it waits, or we wait for it
        query = query.with_for_update(read=True)
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
        }
        for tag, manifest in rows
    ]
