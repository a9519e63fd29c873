"""Hypothesis strategies shared by the property tests: JSON values and texts, digests, OCI
descriptors and manifests (valid ones, and the same with any field replaced by any JSON)."""

import json

from hypothesis import strategies as st

from dtr.services.manifest_parsing import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    SCHEMA1,
)

# Text as a JSON parser may meet it: no lone surrogates (they are not text; the strict JSON
# tests make those on purpose).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)


def json_values(max_leaves=20):
    """Any JSON value (finite numbers, text without lone surrogates)."""
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def nested(depth, leaf="1", kinds="[{"):
    """A JSON text nesting `depth` containers (arrays, objects or both in turn) around `leaf`."""
    opening = {"[": "[", "{": '{"k":'}
    closing = {"[": "]", "{": "}"}
    chosen = [kinds[index % len(kinds)] for index in range(depth)]
    return (
        "".join(opening[k] for k in chosen) + leaf + "".join(closing[k] for k in reversed(chosen))
    )


HEX = "0123456789abcdef"
valid_digests = st.one_of(
    st.text(HEX, min_size=64, max_size=64).map(lambda hex_: "sha256:" + hex_),
    st.text(HEX, min_size=128, max_size=128).map(lambda hex_: "sha512:" + hex_),
)
near_digests = st.one_of(
    valid_digests.map(lambda d: d.upper()),
    valid_digests.map(lambda d: d[:-1]),
    valid_digests.map(lambda d: d + "0"),
    valid_digests.map(lambda d: d + "\n"),
    valid_digests.map(lambda d: d.replace("sha256", "sha384").replace("sha512", "md5")),
    st.text(HEX + ":shaSHA\n ", max_size=80),
)
digests = valid_digests | near_digests
LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.config.v1+json",
)
known_media_types = st.sampled_from((*LAYER_TYPES, DOCKER_MANIFEST, OCI_MANIFEST, OCI_INDEX))
media_types = known_media_types | text


def _maybe_broken(valid, rate=True):
    """Mostly `valid`, sometimes any JSON value instead."""
    return st.one_of(valid, json_values(max_leaves=6)) if rate else valid


def descriptors(broken=False):
    """An OCI descriptor; with `broken`, any field may be of any JSON type or value."""
    types = media_types if broken else known_media_types
    required = {
        "mediaType": _maybe_broken(types, broken),
        "digest": _maybe_broken(digests if broken else valid_digests, broken),
        "size": _maybe_broken(st.integers(min_value=0, max_value=2**63 - 1), broken),
    }
    optional = {
        "annotations": _maybe_broken(st.dictionaries(text, text, max_size=3), broken),
        "artifactType": _maybe_broken(types, broken),
        "platform": _maybe_broken(
            st.fixed_dictionaries({"architecture": text, "os": text}), broken
        ),
    }
    return st.fixed_dictionaries(required, optional=optional)


def manifests(broken=False):
    """An image manifest or index as a dict; with `broken`, any field may be of any JSON type
    or value, or missing."""
    maybe = (lambda s: _maybe_broken(s, True)) if broken else (lambda s: s)
    types = media_types if broken else known_media_types
    image = st.fixed_dictionaries(
        {
            "schemaVersion": maybe(st.just(2)),
            "mediaType": maybe(st.sampled_from((DOCKER_MANIFEST, OCI_MANIFEST))),
            "config": maybe(descriptors(broken)),
            "layers": maybe(st.lists(descriptors(broken), min_size=1, max_size=4)),
        },
        optional={
            "subject": maybe(descriptors(broken)),
            "annotations": maybe(st.dictionaries(text, text, max_size=3)),
            "artifactType": maybe(types),
        },
    )
    index = st.fixed_dictionaries(
        {
            "schemaVersion": maybe(st.just(2)),
            "mediaType": maybe(st.sampled_from(INDEX_TYPES)),
            "manifests": maybe(st.lists(descriptors(broken), max_size=4)),
        },
        optional={
            "subject": maybe(descriptors(broken)),
            "annotations": maybe(st.dictionaries(text, text, max_size=3)),
            "artifactType": maybe(types),
        },
    )
    documents = image | index
    if broken:
        documents = documents | st.dictionaries(text, json_values(), max_size=5)
    return documents


content_types = (
    st.none()
    | st.sampled_from(
        (DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX, *SCHEMA1, "application/json", "")
    ).flatmap(lambda t: st.sampled_from((t, t + "; charset=utf-8", " " + t.upper())))
    | text
)


def dumps(value, **options):
    return json.dumps(value, **options).encode("utf-8", "surrogatepass")
