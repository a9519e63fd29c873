"""One manifest as the artifact page shows it (by digest, like Gitea's container page and
Harbor's build history): for an index its platforms; for an image its layers beside the build
history of its config, the config's run settings and its annotations; for any of them the
tags naming it, the indexes listing it, what it refers to, and its referrers (signatures with
who signed and whether that verified, SBOMs and attestations with their files).

Everything shown comes from content a client pushed, so it is read with limits: a config blob
at most MAX_CONFIG_BYTES from storage, JSON through the strict parser (size and nesting),
lists cut at MAX_ROWS, fields kept only when they have the type the image spec gives them.
Content that cannot be read (missing, damaged, too large, not JSON, not an object) is
reported with the reason instead of failing the page. The templates escape all of it.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from .. import access, strict_json
from ..database import db
from ..errors import BlobUnknown, ManifestUnknown
from ..models import Blob, Manifest, ManifestReference, Tag
from ..names import DIGEST
from ..storage import PathNotFound, StorageError, current_storage
from ..storage.layout import blob_path
from .blobs import check_stored_size, find_linked_blob
from .manifest_parsing import IMAGE_TYPES, INDEX_TYPES
from .repositories import visible_repository
from .signatures import Provenance, Signature, indexes_listing, provenance
from .tag_details import blob_sizes, platform_name

MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 16
MAX_ROWS = 1000  # layers, history steps, platforms, env entries, labels, annotations shown
MAX_TAGS_SHOWN = 20
IMAGE_CONFIG_TYPES = (
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
)
ATTESTATION_REFERENCE = "vnd.docker.reference.type"  # buildx's attestations in an index
ATTESTED_DIGEST = "vnd.docker.reference.digest"
TITLE = "org.opencontainers.image.title"


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int | None
    media_type: str | None
    title: str | None = None  # the file name an artifact gives it (annotation)


@dataclass(frozen=True)
class HistoryEntry:
    created: str | None
    created_by: str | None  # the Dockerfile command
    comment: str | None
    empty_layer: bool


@dataclass(frozen=True)
class BuildStep:
    """A row of the build history: a step of the config's history and the layer it made
    (None for an empty layer), or a layer the history does not account for."""

    history: HistoryEntry | None
    layer: Layer | None


@dataclass(frozen=True)
class ImageConfig:
    platform: str | None
    created: str | None
    author: str | None
    entrypoint: list[str] | None
    cmd: list[str] | None
    env: list[str]
    exposed_ports: list[str]
    volumes: list[str]
    working_dir: str | None
    user: str | None
    stop_signal: str | None
    labels: list[tuple[str, str]]
    history: list[HistoryEntry]
    cut: bool  # some lists were longer than MAX_ROWS


@dataclass(frozen=True)
class Platform:
    """An entry of an index."""

    name: str | None  # linux/arm64/v8; None when unknown (attestations)
    digest: str
    media_type: str | None
    size: int | None  # the image's manifest and blobs, when the repository has it
    present: bool  # the repository has this manifest (its page can be shown)
    attests: str | None  # an attestation manifest: the digest of the image it is about


@dataclass(frozen=True)
class ReferrerDetail:
    digest: str
    kind: str  # signature, sbom, attestation, other
    artifact_type: str | None
    pushed_at: datetime | None
    pushed_by: str | None
    files: tuple[Layer, ...]
    signatures: tuple[Signature, ...]
    problem: str | None  # why its files cannot be listed


@dataclass
class ArtifactDetail:
    digest: str
    media_type: str
    artifact_type: str | None
    manifest_size: int
    size: int | None  # the manifest and everything it uses (None when unknown)
    pushed_by: str | None
    pushed_at: datetime
    tags: list[str]
    tag_count: int
    subject: str | None  # what this artifact refers to (a signature's image)
    subject_present: bool
    parents: list[str]  # indexes of the repository listing it
    provenance: Provenance
    referrers: list[ReferrerDetail]
    annotations: list[tuple[str, str]] = field(default_factory=list)
    manifest_problem: str | None = None
    platforms: list[Platform] = field(default_factory=list)  # an index
    layers: list[Layer] = field(default_factory=list)  # an image or artifact
    config: Layer | None = None
    image_config: ImageConfig | None = None  # a runnable image's config, when readable
    config_problem: str | None = None
    build: list[BuildStep] = field(default_factory=list)
    cut: bool = False  # some list was longer than MAX_ROWS

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def is_image(self) -> bool:
        return self.config is not None and self.config.media_type in IMAGE_CONFIG_TYPES


def artifact_detail(identity, full_name, digest) -> tuple[object, ArtifactDetail]:
    """(the repository, its manifest `digest` as the artifact page shows it). NameUnknown
    for a repository the caller may not pull (as for one that does not exist),
    ManifestUnknown for a digest the repository does not have."""
    repository = visible_repository(identity, full_name, access.PULL)
    manifest = _manifest(repository, digest)
    tags = list(
        db.session.scalars(
            select(Tag.name)
            .where(Tag.manifest_id == manifest.id)
            .order_by(Tag.name)
            .limit(MAX_TAGS_SHOWN)
        )
    )
    tag_count = (
        len(tags)
        if len(tags) < MAX_TAGS_SHOWN
        else db.session.scalar(select(func.count()).where(Tag.manifest_id == manifest.id))
    )
    detail = ArtifactDetail(
        digest=manifest.digest,
        media_type=manifest.media_type,
        artifact_type=manifest.artifact_type,
        manifest_size=manifest.size,
        size=None,
        pushed_by=manifest.pushed_by,
        pushed_at=manifest.created_at,
        tags=tags,
        tag_count=tag_count,
        subject=manifest.subject_digest,
        subject_present=_has_manifest(repository, manifest.subject_digest),
        parents=indexes_listing(repository.id, manifest.digest, MAX_TAGS_SHOWN),
        provenance=_provenance(repository, manifest.digest, tags),
        referrers=[],
    )
    detail.referrers = _referrers(repository, detail.provenance)
    document, detail.manifest_problem = _document(manifest.payload, MAX_MANIFEST_BYTES)
    if document is not None:
        detail.annotations, cut = _string_pairs(document.get("annotations"))
        detail.cut |= cut
        if detail.is_index:
            _describe_index(repository, manifest, document, detail)
        elif manifest.media_type in IMAGE_TYPES:
            _describe_image(manifest, document, detail)
    return repository, detail


def _manifest(repository, digest) -> Manifest:
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise ManifestUnknown("manifest unknown: not a digest", {"reference": str(digest)[:200]})
    manifest = db.session.execute(
        select(Manifest).where(Manifest.repository_id == repository.id, Manifest.digest == digest)
    ).scalar_one_or_none()
    if manifest is None:
        raise ManifestUnknown("manifest unknown", {"reference": digest})
    return manifest


def _has_manifest(repository, digest) -> bool:
    if digest is None:
        return False
    found = select(Manifest.id).where(
        Manifest.repository_id == repository.id, Manifest.digest == digest
    )
    return db.session.scalar(found) is not None


def _provenance(repository, digest, tags) -> Provenance:
    """The manifest's signatures and referrers, with the Docker Content Trust signatures of
    the tags naming it (the trust service signs tags)."""
    found = provenance(repository, [(tag, digest) for tag in tags] or [("", digest)])
    signatures = list(dict.fromkeys(s for value in found.values() for s in value.signatures))
    referrers = next(iter(found.values())).referrers
    return Provenance(tuple(signatures), referrers)


def _referrers(repository, found: Provenance) -> list[ReferrerDetail]:
    digests = [referrer.digest for referrer in found.referrers]
    rows = {
        row.digest: row
        for row in db.session.scalars(
            select(Manifest).where(
                Manifest.repository_id == repository.id, Manifest.digest.in_(digests)
            )
        )
    }
    details = []
    for referrer in found.referrers[:MAX_ROWS]:
        row = rows.get(referrer.digest)
        files, problem = (), None
        if row is not None:
            document, problem = _document(row.payload, MAX_MANIFEST_BYTES)
            if document is not None:
                layers, _ = _layers(document.get("layers"))
                files = tuple(layers)
        details.append(
            ReferrerDetail(
                digest=referrer.digest,
                kind=referrer.kind,
                artifact_type=referrer.artifact_type,
                pushed_at=row.created_at if row else None,
                pushed_by=row.pushed_by if row else None,
                files=files,
                signatures=tuple(s for s in found.signatures if s.digest == referrer.digest),
                problem=problem,
            )
        )
    return details


# --- an index -----------------------------------------------------------------------------------


def _describe_index(repository, manifest, document, detail):
    entries = document.get("manifests")
    entries = entries if isinstance(entries, list) else []
    detail.cut |= len(entries) > MAX_ROWS
    descriptors = [entry for entry in entries[:MAX_ROWS] if isinstance(entry, dict)]
    digests = [d.get("digest") for d in descriptors if isinstance(d.get("digest"), str)]
    present = {
        row.digest: row
        for row in db.session.execute(
            select(Manifest.id, Manifest.digest, Manifest.size).where(
                Manifest.repository_id == repository.id, Manifest.digest.in_(digests)
            )
        )
    }
    sizes = blob_sizes([row.id for row in present.values()])
    total = manifest.size
    for descriptor in descriptors:
        digest = descriptor.get("digest")
        if not isinstance(digest, str) or not DIGEST.match(digest):
            continue
        row = present.get(digest)
        size = row.size + sizes.get(row.id, 0) if row else None
        total += size or 0
        annotations = descriptor.get("annotations")
        annotations = annotations if isinstance(annotations, dict) else {}
        attests = None
        if annotations.get(ATTESTATION_REFERENCE) == "attestation-manifest":
            attests = _text(annotations.get(ATTESTED_DIGEST))
        detail.platforms.append(
            Platform(
                name=platform_name(descriptor.get("platform")),
                digest=digest,
                media_type=_text(descriptor.get("mediaType")),
                size=size,
                present=row is not None,
                attests=attests,
            )
        )
    detail.size = total


# --- an image -----------------------------------------------------------------------------------


def _describe_image(manifest, document, detail):
    detail.layers, cut = _layers(document.get("layers"))
    detail.cut |= cut
    config = _layer(document.get("config"))
    detail.config = config
    known = [layer.size for layer in detail.layers if layer.size is not None]
    detail.size = manifest.size + sum(known) + (config.size or 0 if config else 0)
    if config is None:
        detail.config_problem = "the manifest names no config"
    elif detail.is_image:
        detail.image_config, detail.config_problem = _image_config(config.digest)
    history = detail.image_config.history if detail.image_config else []
    detail.build = build_steps(history, detail.layers)


def build_steps(history: list[HistoryEntry], layers: list[Layer]) -> list[BuildStep]:
    """The history's steps beside the layers they made, in order: a step that is not an
    empty layer takes the next layer; layers left over (a config without history) stand
    alone."""
    steps, remaining = [], list(layers)
    for entry in history:
        layer = None if entry.empty_layer or not remaining else remaining.pop(0)
        steps.append(BuildStep(entry, layer))
    steps.extend(BuildStep(None, layer) for layer in remaining)
    return steps


def _layers(value) -> tuple[list[Layer], bool]:
    if not isinstance(value, list):
        return [], False
    found = [layer for layer in map(_layer, value[:MAX_ROWS]) if layer is not None]
    return found, len(value) > MAX_ROWS


def _layer(value) -> Layer | None:
    if not isinstance(value, dict):
        return None
    digest = value.get("digest")
    if not isinstance(digest, str) or not DIGEST.match(digest):
        return None
    size = value.get("size")
    annotations = value.get("annotations")
    title = annotations.get(TITLE) if isinstance(annotations, dict) else None
    return Layer(
        digest=digest,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        media_type=_text(value.get("mediaType")),
        title=_text(title),
    )


def _image_config(digest) -> tuple[ImageConfig | None, str | None]:
    """(the config, None) or (None, why it cannot be read)."""
    data, problem = read_blob_head(digest, MAX_CONFIG_BYTES)
    if data is None:
        return None, problem
    document, problem = _document(data, MAX_CONFIG_BYTES)
    if document is None:
        return None, problem
    run = document.get("config")
    run = run if isinstance(run, dict) else {}
    env, cut_env = _strings(run.get("Env"))
    labels, cut_labels = _string_pairs(run.get("Labels"))
    ports, cut_ports = _keys(run.get("ExposedPorts"))
    volumes, cut_volumes = _keys(run.get("Volumes"))
    history, cut_history = _history(document.get("history"))
    entrypoint, _ = _strings(run.get("Entrypoint"))
    cmd, _ = _strings(run.get("Cmd"))
    return (
        ImageConfig(
            platform=platform_name(document),
            created=_text(document.get("created")),
            author=_text(document.get("author")),
            entrypoint=entrypoint if isinstance(run.get("Entrypoint"), list | str) else None,
            cmd=cmd if isinstance(run.get("Cmd"), list | str) else None,
            env=env,
            exposed_ports=ports,
            volumes=volumes,
            working_dir=_text(run.get("WorkingDir")),
            user=_text(run.get("User")),
            stop_signal=_text(run.get("StopSignal")),
            labels=labels,
            history=history,
            cut=cut_env or cut_labels or cut_ports or cut_volumes or cut_history,
        ),
        None,
    )


def _history(value) -> tuple[list[HistoryEntry], bool]:
    if not isinstance(value, list):
        return [], False
    entries = [
        HistoryEntry(
            created=_text(item.get("created")),
            created_by=_text(item.get("created_by")),
            comment=_text(item.get("comment")),
            empty_layer=item.get("empty_layer") is True,
        )
        for item in value[:MAX_ROWS]
        if isinstance(item, dict)
    ]
    return entries, len(value) > MAX_ROWS


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value) -> tuple[list[str], bool]:
    """A list of strings (a lone string as a list of one); items of other types dropped."""
    if isinstance(value, str):
        return [value], False
    if not isinstance(value, list):
        return [], False
    return [item for item in value[:MAX_ROWS] if isinstance(item, str)], len(value) > MAX_ROWS


def _keys(value) -> tuple[list[str], bool]:
    if not isinstance(value, dict):
        return [], False
    return sorted(value)[:MAX_ROWS], len(value) > MAX_ROWS


def _string_pairs(value) -> tuple[list[tuple[str, str]], bool]:
    if not isinstance(value, dict):
        return [], False
    pairs = sorted((k, v) for k, v in value.items() if isinstance(v, str))
    return pairs[:MAX_ROWS], len(pairs) > MAX_ROWS


def _document(data, limit) -> tuple[dict | None, str | None]:
    """(the JSON object, None) or (None, why it is unreadable)."""
    try:
        document = strict_json.loads(data, max_bytes=limit, max_depth=MAX_DEPTH)
    except strict_json.JsonRejected as error:
        return None, f"not readable JSON: {error}"[:300]
    if not isinstance(document, dict):
        return None, "not a JSON object"
    return document, None


def read_blob_head(digest, limit) -> tuple[bytes | None, str | None]:
    """(a blob's bytes, None) when it is at most `limit` bytes and matches its digest, else
    (None, why not); never more than `limit` + 1 bytes are read from storage."""
    blob = db.session.get(Blob, digest)
    if blob is None:
        return None, "the registry does not have this blob"
    if blob.quarantine:
        return None, "the stored blob is damaged (quarantined until it is pushed again)"
    if blob.size > limit:
        return None, f"larger than {limit // (1024 * 1024)} MiB ({blob.size} bytes)"
    try:
        with current_storage().reader(blob_path(digest)) as stream:
            data = stream.read(limit + 1)
    except PathNotFound:
        return None, "missing on storage"
    except StorageError as error:
        return None, f"storage could not read it: {error}"[:300]
    if len(data) > limit:
        return None, f"larger than {limit // (1024 * 1024)} MiB"
    algorithm, expected = digest.split(":", 1)
    if hashlib.new(algorithm, data).hexdigest() != expected:
        return None, "the stored bytes do not match the digest"
    return data, None


# --- downloads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobDownload:
    digest: str
    size: int
    file_name: str  # safe for a Content-Disposition header
    chunks: Iterator[bytes]
    close: object  # call when the response is done


def open_manifest_blob(identity, full_name, manifest_digest, blob_digest) -> BlobDownload:
    """A blob that a manifest of the repository references (an SBOM, an attestation, a
    signature's payload, a config), streamed, for those who may pull the repository.
    NameUnknown (repository), ManifestUnknown or BlobUnknown otherwise."""
    repository = visible_repository(identity, full_name, access.PULL)
    manifest = _manifest(repository, manifest_digest)
    referenced = select(ManifestReference.digest).where(
        ManifestReference.manifest_id == manifest.id,
        ManifestReference.kind == "blob",
        ManifestReference.digest == blob_digest,
    )
    if not DIGEST.match(str(blob_digest)) or db.session.scalar(referenced) is None:
        raise BlobUnknown("blob unknown to this manifest", {"digest": str(blob_digest)[:200]})
    blob = find_linked_blob(repository, blob_digest)
    document, _ = _document(manifest.payload, MAX_MANIFEST_BYTES)
    title = None
    if document is not None:
        layers, _ = _layers(document.get("layers"))
        title = next((layer.title for layer in layers if layer.digest == blob_digest), None)
    try:
        check_stored_size(blob.digest, blob.size)
        reader = current_storage().reader(blob_path(blob.digest))
    except PathNotFound:
        raise BlobUnknown("blob missing on storage", {"digest": blob.digest}) from None
    except StorageError:
        raise BlobUnknown("storage could not read the blob", {"digest": blob.digest}) from None
    return BlobDownload(
        digest=blob.digest,
        size=blob.size,
        file_name=_file_name(title, blob.digest),
        chunks=_chunks(reader, blob.size),
        close=reader.close,
    )


def _file_name(title, digest) -> str:
    """The artifact's own file name when it is a plain one, else the digest's."""
    if title:
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in title)
        safe = safe.strip("._")[:100]
        if safe:
            return safe
    return digest.replace(":", "-")[:80]


def _chunks(reader, length, chunk=1024 * 1024):
    while length > 0 and (data := reader.read(min(chunk, length))):
        length -= len(data)
        yield data
