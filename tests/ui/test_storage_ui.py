"""Settings > Storage in a browser: the options of the chosen backend show, Test connection
answers in place and saves nothing, a failing configuration is refused with what the storage
said, Save switches to S3 (moto) live, and the secret is never shown back."""

import os
import re

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.server import USERS, DTRProcess

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("storage-ui") / "instance", http=False)
    process.create_users()
    process.cli("create-repo", "admin/ui-storage")
    process.start()
    yield process
    process.stop()


def stored_backend(server):
    response = requests.get(
        f"{server.url}/api/v0/admin/settings/storage",
        auth=("admin", USERS["admin"][0]),
        verify=False,
        timeout=30,
    )
    return response.json()


def test_choose_test_and_save_a_backend(server, page, moto_server, screenshot):
    bucket = "ui-storage"
    moto_server.client().create_bucket(Bucket=bucket)
    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(USERS["admin"][0])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/repositories$"))
    page.goto(f"{server.url}/settings/storage")

    filesystem = page.locator('fieldset[data-backend="filesystem"]')
    s3 = page.locator('fieldset[data-backend="s3"]')
    assert page.get_by_role("radio", name="Filesystem").is_checked()
    assert filesystem.is_visible() and not s3.is_visible()
    root = filesystem.get_by_label("Root directory")
    assert root.input_value() == str((server.instance / "storage").resolve())
    assert (
        "python app.py storage migrate --to CONFIG.json"
        in page.locator("#migrate-command").inner_text()
    )
    assert "does not move data" in page.content()

    page.get_by_role("radio", name="Amazon S3 (or S3-compatible)").check()
    assert s3.is_visible() and not filesystem.is_visible()
    s3.get_by_label("Bucket").fill("no-such-bucket")
    s3.get_by_label("Region").fill("us-east-1")
    s3.get_by_label("Endpoint URL").fill(moto_server.url)
    s3.get_by_label("Access key ID").fill("test")
    s3.get_by_label("Secret access key").fill("test-secret")
    s3.get_by_label("Path-style addressing").check()
    s3.get_by_label("Part size (MiB)").fill("5")
    test_button = page.get_by_role("button", name="Test connection")
    test_button.click()
    result = page.locator("#storage-test-result")
    result.get_by_text("Connection failed.").wait_for()
    assert "'no-such-bucket'" in result.inner_text() and "does not exist" in result.inner_text()

    s3.get_by_label("Bucket").fill(bucket)
    test_button.click()
    result.get_by_text("Connection works.").wait_for()
    assert page.url.endswith("/settings/storage")
    assert stored_backend(server)["backend"] == "filesystem"  # tested, not saved
    screenshot(page, "settings-storage")

    page.get_by_role("button", name="Save and switch").click()
    page.get_by_text("Storage saved: blobs are now stored and served on Amazon S3").wait_for()
    stored = stored_backend(server)
    assert stored["backend"] == "s3" and stored["options"]["bucket"] == bucket
    assert stored["secrets"] == {"secretKey": True}
    assert page.get_by_role("radio", name="Amazon S3 (or S3-compatible)").is_checked()
    secret = s3.get_by_role("textbox", name="Secret access key")
    assert secret.input_value() == "" and secret.get_attribute("placeholder") == "unchanged"
    assert "test-secret" not in page.content()
    client = RegistryClient(server.url, "admin", USERS["admin"][0])
    digest = client.push_blob("admin/ui-storage", os.urandom(5000))
    keys = moto_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert f"blobs/sha256/{digest[7:9]}/{digest[7:]}" in [key["Key"] for key in keys]

    # a failing configuration is refused with the storage's words; the secret is kept
    s3.get_by_label("Bucket").fill("missing-bucket")
    page.get_by_role("button", name="Save and switch").click()
    page.get_by_text("the storage check failed, nothing was saved").wait_for()
    assert "'missing-bucket'" in page.locator(".flash.error").inner_text()
    assert stored_backend(server)["options"]["bucket"] == bucket
