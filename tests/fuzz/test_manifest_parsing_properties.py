"""Properties of manifest and index parsing (dtr/services/manifest_parsing.py): whatever the
bytes, a ParsedManifest or a domain error (ManifestInvalid, Unsupported), never another
exception; what it accepts is strict JSON whose fields have the image spec's types (they are
stored in the database and served back); valid manifests are accepted and read faithfully."""

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dtr.errors import ManifestInvalid, Unsupported
from dtr.names import DIGEST
from dtr.services.manifest_parsing import (
    DOCKER_MANIFEST,
    IMAGE_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    ParsedManifest,
    parse_manifest,
)
from tests.fuzz.strategies import (
    content_types,
    dumps,
    json_values,
    manifests,
    nested,
    valid_digests,
)

D = "sha256:" + "a" * 64
CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 2}
MINIMAL = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CONFIG, "layers": []}


def parse_or_refuse(payload, content_type):
    """The parse, or None when refused with a domain error: any other exception fails."""
    try:
        parsed = parse_manifest(payload, content_type)
    except (ManifestInvalid, Unsupported) as error:
        assert str(error) or error.args, "a refusal says why"
        return None
    assert isinstance(parsed, ParsedManifest)
    return parsed


def _strict_json(payload):
    """The document, read by the standard library with everything it lets through and JSON
    does not have refused: NaN and Infinity, duplicate keys, lone surrogates."""

    def constant(name):
        raise ValueError(name)

    def pairs(items):
        keys = [key for key, _ in items]
        assert len(keys) == len(set(keys)), f"duplicate keys accepted: {keys}"
        return dict(items)

    document = json.loads(payload.decode("utf-8"), parse_constant=constant, object_pairs_hook=pairs)
    json.dumps(document, ensure_ascii=False).encode("utf-8")  # no lone surrogate anywhere
    return document


def check_accepted(parsed, payload):
    """What an accepted manifest must be: strict JSON, with fields of the spec's types."""
    document = _strict_json(payload)
    assert isinstance(document, dict)
    assert parsed.media_type in MANIFEST_TYPES
    for digest in [*parsed.blobs, *parsed.manifests, *filter(None, [parsed.subject])]:
        assert isinstance(digest, str) and DIGEST.match(digest), digest
    assert parsed.artifact_type is None or (
        isinstance(parsed.artifact_type, str) and 0 < len(parsed.artifact_type) <= 255
    ), f"artifactType stored as {parsed.artifact_type!r}"
    if parsed.annotations is not None:
        assert isinstance(parsed.annotations, dict)
        assert all(isinstance(v, str) for v in parsed.annotations.values()), parsed.annotations


@given(st.binary(max_size=300), content_types)
@example(b"\xef\xbb\xbf{}", None)
@example(b'{"schemaVersion": 2, "layers": NaN}', OCI_MANIFEST)
def test_any_bytes_parse_or_are_refused(payload, content_type):
    parsed = parse_or_refuse(payload, content_type)
    if parsed is not None:
        check_accepted(parsed, payload)


@given(json_values(), content_types)
def test_any_json_value_parses_or_is_refused(value, content_type):
    payload = dumps(value)
    parsed = parse_or_refuse(payload, content_type)
    if parsed is not None:
        check_accepted(parsed, payload)


@given(manifests(broken=True), content_types)
@example({**MINIMAL, "artifactType": {}}, OCI_MANIFEST)
@example({**MINIMAL, "artifactType": []}, OCI_MANIFEST)
@example({**MINIMAL, "artifactType": 7}, OCI_MANIFEST)
@example({**MINIMAL, "annotations": {"n": 1}}, OCI_MANIFEST)
@example({**MINIMAL, "annotations": {"n": None}}, OCI_MANIFEST)
@example({**MINIMAL, "layers": [{**CONFIG, "annotations": {"n": []}}]}, OCI_MANIFEST)
def test_manifests_with_any_field_of_any_type_parse_or_are_refused(document, content_type):
    payload = dumps(document)
    parsed = parse_or_refuse(payload, content_type)
    if parsed is not None:
        check_accepted(parsed, payload)


@given(
    st.sampled_from(["annotations", "artifactType", "config", "layers", "subject"]),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]),
)
def test_non_finite_numbers_are_refused(where, constant):
    """NaN is not JSON: a manifest holding one would be served back as invalid JSON
    (the referrers index), so it is refused at push."""
    document = {**MINIMAL, "annotations": {"n": "x"}}
    payload = json.dumps(document).replace('"x"' if where == "annotations" else "2", constant, 1)
    if where not in ("annotations", "config"):
        payload = payload[:-1] + f', "{where}x": {constant}}}'
    assert parse_or_refuse(payload.encode(), OCI_MANIFEST) is None


@given(st.integers(min_value=1, max_value=120_000), st.sampled_from(["[", "{", "[{"]))
@example(100_000, "[")
@example(100_000, "{")
def test_deep_nesting_is_refused_not_a_crash(depth, kinds):
    payload = nested(depth, kinds=kinds)
    for document in (payload, '{"schemaVersion": 2, "annotations": ' + payload + "}"):
        parsed = parse_or_refuse(document.encode(), OCI_MANIFEST)
        assert parsed is None or depth < 64


@given(st.sampled_from(["\\ud800", "\\udfff", "\\ud800x", "a\\udc00"]), st.booleans())
def test_lone_surrogates_are_refused(escape, in_key):
    annotations = f'{{"{escape}": "v"}}' if in_key else f'{{"k": "{escape}"}}'
    payload = json.dumps(MINIMAL)[:-1] + f', "annotations": {annotations}}}'
    assert parse_or_refuse(payload.encode(), OCI_MANIFEST) is None


@given(st.sampled_from(sorted(MINIMAL)), st.booleans())
def test_duplicate_keys_are_refused(key, inside_config):
    """Two readers could pick different values of a repeated key: refused, at any depth."""
    if inside_config:
        config = json.dumps(CONFIG)[:-1] + f', "digest": "{D}"}}'
        payload = json.dumps({**MINIMAL, "config": "CONFIG"}).replace('"CONFIG"', config)
    else:
        payload = json.dumps(MINIMAL)[:-1] + f', "{key}": {json.dumps(MINIMAL[key])}}}'
    assert parse_or_refuse(payload.encode(), OCI_MANIFEST) is None


@given(manifests(), st.booleans())
def test_valid_manifests_are_accepted_and_read_faithfully(document, send_content_type):
    media_type = document["mediaType"]
    parsed = parse_manifest(dumps(document), media_type if send_content_type else None)
    assert parsed.media_type == media_type
    if media_type in IMAGE_TYPES:
        layers = [layer["digest"] for layer in document["layers"] if not layer.get("urls")]
        assert parsed.blobs == [document["config"]["digest"], *layers]
        assert parsed.manifests == []
    else:
        assert parsed.manifests == [entry["digest"] for entry in document["manifests"]]
        assert parsed.blobs == []
    if "subject" in document and media_type in (OCI_MANIFEST, OCI_INDEX):
        assert parsed.subject == document["subject"]["digest"]
    else:
        assert parsed.subject is None
    assert parsed.annotations == document.get("annotations")
    check_accepted(parsed, dumps(document))


@given(valid_digests, st.sampled_from([DOCKER_MANIFEST, OCI_MANIFEST]))
def test_a_mismatched_content_type_is_refused(digest, declared):
    document = {**MINIMAL, "mediaType": declared, "config": {**CONFIG, "digest": digest}}
    other = OCI_MANIFEST if declared == DOCKER_MANIFEST else DOCKER_MANIFEST
    with pytest.raises(ManifestInvalid):
        parse_manifest(dumps(document), other)
