"""Pull statistics through the production server: docker-style pulls (a GET by tag, then by
digest; HEADs) show in the API's tag list and on the repository page within a flush."""

import time

from tests.integration.test_api import Api
from tests.integration.web_support import portal_session
from tests.support.client import RegistryClient
from tests.support.images import OCI_MANIFEST, simple_image
from tests.support.server import USERS, running_dtr

ADMIN = ("admin", USERS["admin"][0])


def test_pulls_show_in_the_tag_list(tmp_path):
    with running_dtr(
        tmp_path / "instance", ["admin/pulled"], env={"DTR_PULL_FLUSH_SECONDS": "1"}
    ) as server:
        client = RegistryClient(server.url, *ADMIN)
        image = simple_image("pull-statistics")
        client.push_image("admin/pulled", "v1", image)
        client.push_image("admin/pulled", "never", simple_image("never-pulled"))
        reader = RegistryClient(server.url, "reader", USERS["reader"][0])
        for reference in ("v1", image.digest, "v1"):
            head = reader.request("HEAD", f"/v2/admin/pulled/manifests/{reference}")
            assert head.status_code == 200  # not a pull
            got = reader.get_manifest("admin/pulled", reference, accept=OCI_MANIFEST)
            assert got.status_code == 200
        api = Api(server.url, *ADMIN)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            tags = {t["name"]: t for t in api.get("/repositories/admin/pulled/tags").json()["tags"]}
            if tags["v1"]["pullCount"]:
                break
            time.sleep(0.2)
        assert tags["v1"]["pullCount"] == 2 and tags["v1"]["lastPulledAt"]
        assert tags["never"]["pullCount"] == 0 and tags["never"]["lastPulledAt"] is None
        portal = portal_session(server.url, *ADMIN)
        html = portal.get(f"{server.url}/repositories/admin/pulled").text
        assert "2 pulls" in html and ">never<" in html
