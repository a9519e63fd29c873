"""Settings › Proxies in a real browser (Chromium, htmx): a refused proxy namespace says why
beside its field and keeps what was typed; one created against a real upstream
(docker-registry), checked while the upstream answers and while it is stopped (its health
shown), then no longer mirroring."""

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.support.server import USERS, DTRProcess
from tests.support.upstream_registry import ReferenceRegistry
from tests.ui.conftest import log_in

pytestmark = pytest.mark.ui
ADMIN = ("admin", USERS["admin"][0])
PROXIES = "/settings/proxies"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("proxies-ui") / "instance", http=False)
    process.create_users()
    process.start()
    yield process
    process.stop()


@pytest.fixture
def admin_page(server, page):
    log_in(page, server.url)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(server.url + PROXIES)
    return page


def listed(server):
    response = requests.get(f"{server.url}/api/v0/admin/proxies", auth=ADMIN, verify=False)
    return [proxy["name"] for proxy in response.json()["proxies"]]


@pytest.mark.parametrize(
    "name, url, field, said",
    [
        ("refused1", "ftp://example.com", "upstreamUrl", "http:// or https:// URL"),
        ("refused2", "http://user:pw@example.com", "upstreamUrl", "no credentials"),
        ("Bad Name", "http://127.0.0.1:9", "name", "invalid name"),
    ],
    ids=["scheme", "credentials-in-url", "name"],
)
def test_a_refused_proxy_says_why_beside_the_field(server, admin_page, name, url, field, said):
    page = admin_page
    form = page.locator("#new-proxy")
    form.locator("[name=name]").fill(name)
    form.locator("[name=upstreamUrl]").fill(url)
    form.get_by_role("button", name="Create").click()
    message = page.locator(f"#new-proxy-{field}-error")
    expect(message).to_be_visible()
    expect(message).to_contain_text(said)
    expect(page.locator("#new-proxy [name=upstreamUrl]")).to_have_value(url)
    expect(page.locator("#new-proxy [name=name]")).to_have_value(name)
    assert listed(server) == []


def test_a_proxy_from_creation_through_its_health_to_stopping(server, admin_page):
    page = admin_page
    with ReferenceRegistry() as upstream:
        form = page.locator("#new-proxy")
        form.locator("[name=name]").fill("mirrored")
        form.locator("[name=upstreamUrl]").fill(upstream.url)
        form.locator("[name=password]").fill("upstream-secret")
        form.locator("[name=visibility]").select_option("public")
        form.get_by_role("button", name="Create").click()
        expect(page.get_by_text("Proxy namespace mirrored created.")).to_be_visible()
        row = page.locator("#proxy-mirrored")
        expect(row).to_contain_text(upstream.url)
        expect(row.locator(".health")).to_have_text(re.compile(r"^\s*unknown"))
        assert "upstream-secret" not in page.content()

        row.get_by_role("button", name="Check").click()
        expect(page.get_by_text("mirrored: the upstream answers.")).to_be_visible()
        expect(page.locator("#proxy-mirrored .health")).to_contain_text("healthy")

        upstream.stop()
        page.locator("#proxy-mirrored").get_by_role("button", name="Check").click()
        expect(
            page.get_by_text(f"mirrored: upstream {upstream.url} could not be reached")
        ).to_be_visible()
        health = page.locator("#proxy-mirrored .health")
        expect(health).to_contain_text("unhealthy")
        expect(health).to_contain_text("could not be reached")
        upstream.start()

    page.locator("#proxy-mirrored").get_by_role("button", name="Stop mirroring").click()
    expect(page.get_by_text("mirrored no longer mirrors its upstream")).to_be_visible()
    expect(page.locator("#proxy-mirrored")).to_have_count(0)
    assert listed(server) == []
