"""Settings > Storage > Verify in a browser: the button starts a storage verification, the
page follows it and shows its report (the corrupt blob, the tag that needs it); the
quarantined blob is then unknown to pulls."""

import pytest

from tests.support.client import RegistryClient
from tests.support.images import sha256, simple_image
from tests.support.server import USERS, running_dtr
from tests.ui.conftest import log_in

pytestmark = pytest.mark.ui
REPO = "admin/ui-verify"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    instance = tmp_path_factory.mktemp("verify-ui") / "instance"
    with running_dtr(instance, [REPO], http=False) as process:
        yield process


def test_verify_button_and_report(server, page, screenshot):
    client = RegistryClient(server.url, "admin", USERS["admin"][0])
    image = simple_image("ui-verify", layers=1)
    client.push_image(REPO, "v1", image)
    digest = sha256(image.layers[0])
    stored = server.instance / "storage" / "blobs" / "sha256" / digest[7:9] / digest[7:]
    damaged = bytearray(stored.read_bytes())
    damaged[5] ^= 0xFF
    stored.write_bytes(bytes(damaged))

    log_in(page, server.url)
    page.goto(f"{server.url}/settings/storage")
    assert "No storage verification is running." in page.locator("#verify-progress").inner_text()

    page.get_by_role("button", name="Verify storage").click()
    report = page.locator("details.verify-report")
    report.wait_for()
    text = report.inner_text()
    assert "1 quarantined" in text
    assert f"corrupt {digest}" in text and "the stored bytes hash to" in text
    assert f"Needed by {REPO}:v1." in text
    row = page.locator("table.verify-history tbody tr").first
    assert "web:admin" in row.inner_text() and "done" in row.inner_text()
    assert page.get_by_role("button", name="Verify storage").is_enabled()
    screenshot(page, "settings-storage-verify")
    assert client.request("HEAD", f"/v2/{REPO}/blobs/{digest}").status_code == 404
