"""A full disk under the database too (the default layout: instance/dtr.db beside the blobs):
a write the database cannot make answers 507 UNAVAILABLE "storage full", like full storage,
not a 500; reads go on; writes work again once space is freed. The instance lies on a small
tmpfs the test mounts (as root; skipped with the reason when mounting is not permitted)."""

import json
import os
import uuid

import pytest

from tests.support.client import RegistryClient
from tests.support.images import OCI_MANIFEST, raw_manifest, sha256
from tests.support.server import USERS, running_dtr
from tests.support.tmpfs import mounted_tmpfs

REPO = "admin/dbfull"


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    with mounted_tmpfs(tmp_path_factory.mktemp("database-full") / "instance", "size=24m") as folder:
        yield folder


def fill(folder):
    """Fill the tmpfs to its last byte; returns the filler files."""
    files = []
    for size in (1 << 20, 4096, 1):
        while True:
            path = folder / f"filler-{uuid.uuid4().hex}"
            try:
                with open(path, "wb") as file:
                    file.write(b"\0" * size)
            except OSError:
                path.unlink(missing_ok=True)
                break
            files.append(path)
    return files


def test_a_database_write_on_a_full_disk_is_a_clear_error(instance):
    # SQLite in the instance folder, also in the PostgreSQL run: the full disk is this one's
    with running_dtr(instance, [REPO], database_url=f"sqlite:///{instance / 'dtr.db'}") as server:
        client = RegistryClient(server.url, "admin", USERS["admin"][0])
        config, layer = b"{}", b"the layer"
        for blob in (config, layer):
            client.push_blob(REPO, blob)
        layers = [("application/vnd.oci.image.layer.v1.tar", layer, {})]
        # annotations larger than the database's spare pages: the write must grow it
        manifest = raw_manifest(config, layers, annotations={"pad": "x" * 2_000_000})
        payload = json.dumps(manifest).encode()
        fillers = fill(instance)
        try:
            refused = client.push_manifest(REPO, "full", payload, OCI_MANIFEST)
            assert refused.status_code == 507, refused.text[:300]
            error = refused.json()["errors"][0]
            assert error["code"] == "UNAVAILABLE" and error["message"].startswith("storage full")
            blob = client.request("GET", f"/v2/{REPO}/blobs/{sha256(layer)}")
            assert blob.status_code == 200 and blob.content == layer  # reads go on
        finally:
            for path in fillers:
                os.unlink(path)
        stored = client.push_manifest(REPO, "full", payload, OCI_MANIFEST)
        assert stored.status_code == 201, stored.text[:300]
        assert client.get_manifest(REPO, "full").status_code == 200
