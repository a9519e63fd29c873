"""Parse and validate image manifests and indexes (Docker schema 2, Docker manifest list,
OCI image manifest, OCI image index, OCI artifacts)."""

from dataclasses import dataclass, field

from .. import strict_json
from ..errors import ManifestInvalid, Unsupported
from ..names import DIGEST

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
MANIFEST_TYPES = IMAGE_TYPES + INDEX_TYPES


@dataclass
class ParsedManifest:
    media_type: str
    blobs: list = field(default_factory=list)  # digests of config and layers
    manifests: list = field(default_factory=list)  # digests of index entries
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict | None = None


def parse_manifest(payload: bytes, content_type: str | None) -> ParsedManifest:
    try:
        document = strict_json.loads(payload)
    except strict_json.JsonRejected as error:
        raise ManifestInvalid(f"manifest is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    content_type = (content_type or "").split(";")[0].strip() or None
    declared = document.get("mediaType")
    if content_type in SCHEMA1 or declared in SCHEMA1 or document.get("schemaVersion") == 1:
        raise Unsupported("Docker schema 1 manifests are not supported; push schema 2 or OCI")
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    if content_type and declared and content_type != declared and content_type in MANIFEST_TYPES:
        raise ManifestInvalid(
            f"Content-Type {content_type} does not match the manifest's mediaType {declared}"
        )
    media_type = declared or (content_type if content_type in MANIFEST_TYPES else None)
    if media_type is None:
        media_type = OCI_INDEX if "manifests" in document else OCI_MANIFEST
    if media_type not in MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type {media_type}")
    parsed = ParsedManifest(media_type=media_type)
    if media_type in IMAGE_TYPES:
        config = _descriptor(document.get("config"), "config")
        parsed.blobs.append(config["digest"])
        layers = document.get("layers")
        if not isinstance(layers, list) or (media_type == DOCKER_MANIFEST and not layers):
            raise ManifestInvalid("layers must be a list")
        for index, layer in enumerate(layers):
            layer = _descriptor(layer, f"layers[{index}]")
            if not layer.get("urls"):  # foreign layers live elsewhere
                parsed.blobs.append(layer["digest"])
        parsed.artifact_type = _artifact_type(document) or config.get("mediaType")
    else:
        entries = document.get("manifests")
        if not isinstance(entries, list):
            raise ManifestInvalid("manifests must be a list")
        for index, entry in enumerate(entries):
            parsed.manifests.append(_descriptor(entry, f"manifests[{index}]")["digest"])
        parsed.artifact_type = _artifact_type(document)
    if "subject" in document and media_type in (OCI_MANIFEST, OCI_INDEX):
        parsed.subject = _descriptor(document["subject"], "subject")["digest"]
    parsed.annotations = _annotations(document, "annotations")
    return parsed


def _artifact_type(document, where="artifactType"):
    """A MIME type (image spec: artifactType is a string), or None when absent."""
    value = document.get("artifactType")
    if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
        raise ManifestInvalid(f"{where} must be a media type string (at most 255 characters)")
    return value


def _annotations(document, where):
    """A string-to-string map (image spec: annotations), or None when absent."""
    annotations = document.get("annotations")
    if annotations is None:
        return None
    if not isinstance(annotations, dict):
        raise ManifestInvalid(f"{where} must be an object")
    for key, value in annotations.items():
        if not isinstance(value, str):
            raise ManifestInvalid(f"{where}[{key[:100]!r}] must be a string")
    return annotations


def _descriptor(value, where):
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    digest, size, media = value.get("digest"), value.get("size"), value.get("mediaType")
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise ManifestInvalid(f"{where}.digest is not a valid digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    if media is not None and (not isinstance(media, str) or len(media) > 255):
        raise ManifestInvalid(f"{where}.mediaType must be a string")
    urls = value.get("urls")
    if urls is not None and (
        not isinstance(urls, list) or not all(isinstance(url, str) for url in urls)
    ):
        raise ManifestInvalid(f"{where}.urls must be a list of strings")
    _artifact_type(value, f"{where}.artifactType")
    _annotations(value, f"{where}.annotations")
    return value
