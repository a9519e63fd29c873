"""Tags as the repository page shows them: a page of them (sorted by name or push date,
filtered by text), each with its digest, size, platforms, who pushed it and when, its
signatures and other referrers; the tag a pull command should name; and what a deletion of
some tags would remove.

A page of tags costs a fixed number of queries whatever its length and whatever the number of
tags in the repository (the indexes `uq tags(repository_id, name)` and
`ix_tags_repository_pushed` serve every sort order; figures in bench/README.md): the count,
the page, the blob sizes, the index children, the signatures (three, and one or two for
Docker Content Trust). An image's platform is read from its config blob once and remembered
by digest (content never changes).

How often and when last a tag was pulled: services/pull_statistics.py (batched writes).
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import and_, func, or_, select

from .. import strict_json
from ..database import db
from ..models import Blob, Manifest, ManifestReference, Tag
from ..names import TAG
from ..storage import PathNotFound, StorageError, current_storage
from ..storage.layout import blob_path
from .gc_settings import gc_settings
from .manifest_parsing import INDEX_TYPES
from .search import contains_pattern
from .signatures import UNSIGNED, Provenance, provenance

MAX_CONFIG_BYTES = 1024 * 1024
MAX_DEPTH = 16  # an image config nests four levels deep; a deeper one is not a config
# sort key -> ORDER BY; the push date sorts break ties by name in the same direction, so one
# index (repository_id, updated_at, name) walks either way
SORTS = {
    "name": (Tag.name.asc(),),
    "-name": (Tag.name.desc(),),
    "pushed": (Tag.updated_at.asc(), Tag.name.asc()),
    "-pushed": (Tag.updated_at.desc(), Tag.name.desc()),
}
DEFAULT_SORT = "name"
MAX_QUERY = 128  # a tag name is at most 128 characters; a digest 71 (sha256) or 135


@dataclass(frozen=True)
class TagDetail:
    name: str
    digest: str
    media_type: str
    size: int  # the manifest and every blob it (or, for an index, its images) uses
    platforms: tuple[str, ...]
    pushed_by: str | None
    pushed_at: datetime
    pull_count: int = 0
    last_pulled_at: datetime | None = None
    provenance: Provenance = UNSIGNED  # signatures and referrers


def tag_page(repository, start=0, limit=50, sort=DEFAULT_SORT, query=None):
    """(tags from `start` in the `sort` order, at most `limit`, of those whose name contains
    `query` (or whose digest starts with it); the number of such tags)."""
    conditions = [Tag.repository_id == repository.id, *_matching(query)]
    counted = select(func.count()).select_from(Tag).where(*conditions)
    if query and query.startswith("sha"):
        counted = counted.join(Manifest, Manifest.id == Tag.manifest_id)
    total = db.session.scalar(counted)
    rows = db.session.execute(
        select(Tag, Manifest)
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .where(*conditions)
        .order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))
        .offset(start)
        .limit(limit)
    ).all()
    return _details(repository, rows), total


def _matching(query):
    """WHERE conditions of a filter text: a part of the tag's name, or (for `sha256:...`) the
    start of its digest."""
    if not query:
        return []
    query = query[:MAX_QUERY]
    by_name = func.lower(Tag.name).like(contains_pattern(query), escape="\\")
    if query.startswith("sha"):
        prefix = contains_pattern(query)[1:]  # "abc%": the digest's start
        return [or_(by_name, Manifest.digest.like(prefix, escape="\\"))]
    return [by_name]


def _details(repository, rows) -> list[TagDetail]:
    manifests = {manifest.id: manifest for _, manifest in rows}
    children = _index_children(repository.id, [m for m in manifests.values() if _is_index(m)])
    sizes = blob_sizes([*manifests, *(c.id for kids in children.values() for c in kids)])
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
                pull_count=tag.pull_count,
                last_pulled_at=tag.last_pulled_at,
                provenance=signed[tag.name],
            )
        )
    return details


@dataclass(frozen=True)
class PullReference:
    tag: str
    digest: str


def pull_reference(repository) -> PullReference | None:
    """What a pull command should name: `latest` when the repository has it, else the tag
    pushed last; None for a repository without tags. Two indexed lookups."""
    for query in (
        select(Tag.name, Manifest.digest).where(
            Tag.repository_id == repository.id, Tag.name == "latest"
        ),
        select(Tag.name, Manifest.digest)
        .where(Tag.repository_id == repository.id)
        .order_by(*SORTS["-pushed"])
        .limit(1),
    ):
        row = db.session.execute(query.join(Manifest, Manifest.id == Tag.manifest_id)).first()
        if row is not None:
            return PullReference(row.name, row.digest)
    return None


# --- what deleting some tags removes ------------------------------------------------------------

OTHER_TAGS_SHOWN = 10


@dataclass(frozen=True)
class ImageAfterDeletion:
    """One image (manifest) some of the chosen tags point at, and what becomes of it."""

    digest: str
    tags: tuple[str, ...]  # the chosen tags pointing at it
    other_tags: tuple[str, ...]  # tags not chosen that keep it (the first OTHER_TAGS_SHOWN)
    other_tag_count: int
    referrers: int  # signatures, SBOMs, attestations attached to it
    listed_by_index: bool  # an index of the repository lists it (and keeps it)

    @property
    def stays(self) -> bool:
        return self.other_tag_count > 0 or self.listed_by_index


@dataclass(frozen=True)
class DeletionPreview:
    images: tuple[ImageAfterDeletion, ...]
    missing: tuple[str, ...]  # chosen tags the repository does not have (deleted meanwhile)
    untagged_collected: bool  # garbage collection deletes untagged images (the setting)

    @property
    def tags(self) -> list[str]:
        return [tag for image in self.images for tag in image.tags]


def deletion_preview(repository, tag_names) -> DeletionPreview:
    """What deleting these tags of the repository would remove: the tags; each image they
    name either stays (other tags, or an index, keep it) or is left untagged for garbage
    collection with its referrers. Five queries whatever the number of tags."""
    wanted = list(dict.fromkeys(name for name in tag_names if TAG.match(name)))
    rows = db.session.execute(
        select(Tag.name, Manifest.id, Manifest.digest)
        .join(Manifest, Manifest.id == Tag.manifest_id)
        .where(Tag.repository_id == repository.id, Tag.name.in_(wanted))
        .order_by(Tag.name)
    ).all()
    found = {row.name for row in rows}
    chosen: dict[int, list[str]] = {}
    digests = {}
    for row in rows:
        chosen.setdefault(row.id, []).append(row.name)
        digests[row.id] = row.digest
    others = _other_tags(repository.id, chosen, found)
    counts = dict(
        db.session.execute(
            select(Tag.manifest_id, func.count())
            .where(Tag.manifest_id.in_(list(chosen)), Tag.name.not_in(list(found)))
            .group_by(Tag.manifest_id)
        ).all()
    )
    attached = dict(
        db.session.execute(
            select(Manifest.subject_digest, func.count())
            .where(
                Manifest.repository_id == repository.id,
                Manifest.subject_digest.in_(list(digests.values())),
            )
            .group_by(Manifest.subject_digest)
        ).all()
    )
    listed = set(
        db.session.scalars(
            select(ManifestReference.digest)
            .join(Manifest, Manifest.id == ManifestReference.manifest_id)
            .where(
                Manifest.repository_id == repository.id,
                ManifestReference.kind == "manifest",
                ManifestReference.digest.in_(list(digests.values())),
            )
        )
    )
    images = tuple(
        ImageAfterDeletion(
            digest=digests[manifest_id],
            tags=tuple(names),
            other_tags=tuple(others.get(manifest_id, ())),
            other_tag_count=counts.get(manifest_id, 0),
            referrers=attached.get(digests[manifest_id], 0),
            listed_by_index=digests[manifest_id] in listed,
        )
        for manifest_id, names in chosen.items()
    )
    missing = tuple(name for name in dict.fromkeys(tag_names) if name not in found)
    return DeletionPreview(images, missing, gc_settings().delete_untagged)


def _other_tags(repository_id, chosen, found) -> dict[int, list[str]]:
    """manifest id -> the first few tags not chosen that point at it (one query: a window
    function numbers each manifest's tags)."""
    if not chosen:
        return {}
    number = func.row_number().over(partition_by=Tag.manifest_id, order_by=Tag.name)
    numbered = (
        select(Tag.manifest_id, Tag.name, number.label("n"))
        .where(
            Tag.repository_id == repository_id,
            Tag.manifest_id.in_(list(chosen)),
            Tag.name.not_in(list(found)),
        )
        .subquery()
    )
    others: dict[int, list[str]] = {}
    for manifest_id, name in db.session.execute(
        select(numbered.c.manifest_id, numbered.c.name)
        .where(numbered.c.n <= OTHER_TAGS_SHOWN)
        .order_by(numbered.c.manifest_id, numbered.c.name)
    ):
        others.setdefault(manifest_id, []).append(name)
    return others


# --- sizes and platforms ---------------------------------------------------------------------


def _is_index(manifest):
    return manifest.media_type in INDEX_TYPES


def _index_children(repository_id, indexes):
    """index manifest id -> the manifests of the same repository it lists."""
    if not indexes:
        return {}
    rows = db.session.execute(
        select(ManifestReference.manifest_id, Manifest)
        .join(
            Manifest,
            and_(
                Manifest.digest == ManifestReference.digest,
                Manifest.repository_id == repository_id,
            ),
        )
        .where(
            ManifestReference.manifest_id.in_([index.id for index in indexes]),
            ManifestReference.kind == "manifest",
        )
    )
    children = {}
    for index_id, child in rows:
        children.setdefault(index_id, []).append(child)
    return children


def blob_sizes(manifest_ids) -> dict[int, int]:
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
        document = strict_json.loads(manifest.payload, max_depth=MAX_DEPTH)
    except ValueError:
        return ()
    if not isinstance(document, dict):
        return ()
    if _is_index(manifest):
        found = []
        for entry in document.get("manifests") or []:
            platform = entry.get("platform") if isinstance(entry, dict) else None
            name = platform_name(platform)
            if name and name not in found:
                found.append(name)
        return tuple(found)
    config = document.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        return ()
    name = _image_platform(config["digest"])
    return (name,) if name else ()


def platform_name(platform) -> str | None:
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
    try:
        return platform_name(strict_json.loads(data, max_bytes=MAX_CONFIG_BYTES))
    except ValueError:
        return None
