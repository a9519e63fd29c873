import json

import pytest

from dtr.errors import ManifestInvalid, Unsupported
from dtr.services.manifest_parsing import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    parse_manifest,
)
from tests.support.images import index_of, simple_image

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def test_image_manifests_list_config_and_layers():
    for docker in (True, False):
        image = simple_image("parse", docker=docker)
        parsed = parse_manifest(image.manifest, image.media_type)
        assert parsed.media_type == (DOCKER_MANIFEST if docker else OCI_MANIFEST)
        assert parsed.blobs == [
            d["digest"]
            for d in [json.loads(image.manifest)["config"], *json.loads(image.manifest)["layers"]]
        ]
        assert parsed.manifests == [] and parsed.subject is None


def test_indexes_list_their_manifests():
    image = simple_image("parse-index")
    for docker, media_type in ((True, DOCKER_LIST), (False, OCI_INDEX)):
        parsed = parse_manifest(index_of([(image, "amd64")], docker=docker), media_type)
        assert parsed.media_type == media_type and parsed.manifests == [image.digest]


def test_artifact_fields_and_foreign_layers():
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/example",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": D1, "size": 2},
        "layers": [{"mediaType": "x", "digest": D2, "size": 1, "urls": ["https://e.x/l"]}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": D2, "size": 10},
        "annotations": {"a": "b"},
    }
    parsed = parse_manifest(json.dumps(body).encode(), OCI_MANIFEST)
    assert parsed.artifact_type == "application/example"
    assert parsed.subject == D2 and parsed.blobs == [D1] and parsed.annotations == {"a": "b"}


@pytest.mark.parametrize(
    "body,error",
    [
        (b"nope", ManifestInvalid),
        (b"1", ManifestInvalid),
        (b'{"schemaVersion": 1}', Unsupported),
        (
            b'{"schemaVersion": 2, "config": {"digest": "x", "size": 1}, "layers": []}',
            ManifestInvalid,
        ),
        (
            b'{"schemaVersion": 2, "config": {"digest": "%s", "size": -1}, "layers": []}'
            % D1.encode(),
            ManifestInvalid,
        ),
        (b'{"schemaVersion": 2, "manifests": {}}', ManifestInvalid),
        (b'{"schemaVersion": 2, "mediaType": "text/plain"}', ManifestInvalid),
    ],
)
def test_invalid(body, error):
    with pytest.raises(error):
        parse_manifest(body, None)


def test_declared_type_must_match_content_type():
    image = simple_image("mismatch")
    with pytest.raises(ManifestInvalid):
        parse_manifest(image.manifest, DOCKER_MANIFEST)
