"""Tags as the repository page shows them: digest, size, platforms, pushed when and by whom,
signatures and other referrers.

A page of tags costs a fixed number of queries whatever its length (signatures: three, and
one or two for Docker Content Trust); an image's platform is read from its config blob once
and remembered by digest (content never changes).
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import func, select

from .. import strict_json
from ..database import db
from ..models import Blob, Manifest, ManifestReference, Tag
from ..storage import PathNotFound, StorageError, current_storage
from ..storage.layout import blob_path
from .manifest_parsing import INDEX_TYPES
from .signatures import UNSIGNED, Provenance, provenance

MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class TagDetail:
    name: str
    digest: str
    media_type: str
    size: int  # the manifest and every blob it (or, for an index, its images) uses
    platforms: tuple[str, ...]
    pushed_by: str | None
    pushed_at: datetime
    provenance: Provenance = UNSIGNED  # signatures and referrers


def tag_page(repository, start=0, limit=50):
    """(tags from `start`, sorted by name, at most `limit`; the number of tags)."""
    total = db.session.scalar(
        select(func.count()).select_from(Tag).where(Tag.repository_id == repository.id)
    )
    rows = db.session.execute(
        select(Tag, Manifest)
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .where(Tag.repository_id == repository.id)
        .order_by(Tag.name)
        .offset(start)
        .limit(limit)
    ).all()
    manifests = {manifest.id: manifest for _, manifest in rows}
    children = _index_children(repository.id, [m for m in manifests.values() if _is_index(m)])
    sizes = _blob_sizes([*manifests, *(c.id for kids in children.values() for c in kids)])
    signed = provenance(repository, [(tag.name, manifest.digest) for tag, manifest in rows])
    details = []
    for tag, manifest in rows:
        images = children.get(manifest.id, [])
        size = manifest.size + sizes.get(manifest.id, 0)
        size += sum(child.size + sizes.get(child.id, 0) for child in images)
        details.append(
            TagDetail(
                name=tag.name,
                digest=manifest.digest,
                media_type=manifest.media_type,
                size=size,
                platforms=_platforms(manifest),
                pushed_by=tag.pushed_by,
                pushed_at=tag.updated_at,
                provenance=signed[tag.name],
            )
        )
    return details, total


def _is_index(manifest):
    return manifest.media_type in INDEX_TYPES


def _index_children(repository_id, indexes):
    """index manifest id -> the manifests of the same repository it lists."""
    if not indexes:
        return {}
    rows = db.session.execute(
        select(ManifestReference.manifest_id, Manifest)
        .join(Manifest, Manifest.digest == ManifestReference.digest)
        .where(
            ManifestReference.manifest_id.in_([index.id for index in indexes]),
            ManifestReference.kind == "manifest",
            Manifest.repository_id == repository_id,
        )
    )
    children = {}
    for index_id, child in rows:
        children.setdefault(index_id, []).append(child)
    return children


def _blob_sizes(manifest_ids):
    """manifest id -> total size of the blobs it references."""
    if not manifest_ids:
        return {}
    rows = db.session.execute(
        select(ManifestReference.manifest_id, func.sum(Blob.size))
        .join(Blob, Blob.digest == ManifestReference.digest)
        .where(ManifestReference.manifest_id.in_(manifest_ids), ManifestReference.kind == "blob")
        .group_by(ManifestReference.manifest_id)
    )
    return {manifest_id: int(total or 0) for manifest_id, total in rows}


def _platforms(manifest) -> tuple[str, ...]:
    try:
        document = strict_json.loads(manifest.payload)
    except ValueError:
        return ()
    if _is_index(manifest):
        found = []
        for entry in document.get("manifests") or []:
            platform = entry.get("platform") if isinstance(entry, dict) else None
            name = _platform_name(platform)
            if name and name not in found:
                found.append(name)
        return tuple(found)
    config = document.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        return ()
    name = _image_platform(config["digest"])
    return (name,) if name else ()


def _platform_name(platform) -> str | None:
    """ "linux/arm64/v8" from an OCI platform object; None for attestations (unknown)."""
    if not isinstance(platform, dict):
        return None
    parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
    parts = [part for part in parts if isinstance(part, str) and part]
    if len(parts) < 2 or parts[0] == "unknown":
        return None
    return "/".join(parts)


def _image_platform(config_digest) -> str | None:
    """The platform an image config declares; read once per digest (a storage failure is
    not remembered: the next page view tries again)."""
    try:
        return _read_platform(config_digest)
    except (PathNotFound, StorageError):
        return None


@lru_cache(maxsize=4096)
def _read_platform(config_digest) -> str | None:
    with current_storage().reader(blob_path(config_digest)) as stream:
        data = stream.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        return None
    try:
        return _platform_name(strict_json.loads(data))
    except (ValueError, UnicodeDecodeError):
        return None
