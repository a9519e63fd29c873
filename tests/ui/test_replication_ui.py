"""Settings › Replication in a real browser (Chromium, htmx): a refused rule says why beside
its field and keeps what was typed; a push rule to a real registry (docker-registry) run by
hand copies a pushed image there (its history shows the run and the item, retried: skipped),
then is deleted; a pull rule copies an image of that registry into DTR."""

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.support.client import RegistryClient
from tests.support.server import USERS, DTRProcess
from tests.support.upstream_registry import ReferenceRegistry, push_image
from tests.ui.conftest import log_in

pytestmark = pytest.mark.ui
ADMIN = ("admin", USERS["admin"][0])
REPLICATION = "/settings/replication"
RUN_TIMEOUT = 60_000  # ms: the worker copies at once, retrying a failure after 2 s, 4 s


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("replication-ui") / "instance", http=False)
    process.create_users()
    created = process.cli("create-repo", "admin/app")
    assert created.returncode == 0, created.stderr
    process.start()
    push_image(process.url, "admin/app", "1", auth=ADMIN)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def registry():
    with ReferenceRegistry() as remote:
        push_image(remote.url, "library/base", "2")
        yield remote


@pytest.fixture
def admin_page(server, page):
    log_in(page, server.url)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(server.url + REPLICATION)
    return page


def listed(server):
    response = requests.get(f"{server.url}/api/v0/admin/replication", auth=ADMIN, verify=False)
    assert response.status_code == 200, response.text
    return [rule["name"] for rule in response.json()["rules"]]


def remote_tags(registry, name):
    response = requests.get(f"{registry.url}/v2/{name}/tags/list", timeout=10)
    return response.json().get("tags") if response.status_code == 200 else None


def fill(form, **fields):
    for name, value in fields.items():
        form.locator(f"[name={name}]").fill(value)


@pytest.mark.parametrize(
    "fields, field, said",
    [
        ({"url": "ftp://x", "repositories": "admin/*"}, "url", "http:// or https:// URL"),
        (
            {"url": "http://127.0.0.1:9", "repositories": "admin/*", "schedule": "every day"},
            "schedule",
            "fields",
        ),
        ({"url": "http://127.0.0.1:9"}, "repositories", "least one pattern"),
        ({"url": "http://127.0.0.1:9", "repositories": "Admin/App"}, "repositories", "patterns"),
    ],
    ids=["url-scheme", "schedule", "no-repositories", "bad-pattern"],
)
def test_a_refused_rule_says_why_beside_the_field(server, admin_page, fields, field, said):
    page = admin_page
    form = page.locator("#new-rule")
    fill(form, name="refused", password="remote-secret", **fields)
    form.get_by_role("button", name="Create").click()
    message = page.locator(f"#new-rule-{field}-error")
    expect(message).to_be_visible()
    expect(message).to_contain_text(said)
    form = page.locator("#new-rule")
    expect(form.locator(f"[name={field}]")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("[name=name]")).to_have_value("refused")
    for name, value in fields.items():
        expect(form.locator(f"[name={name}]")).to_have_value(value)
    expect(form.locator("[name=password]")).to_have_value("")
    expect(form.locator("[name=tags]")).to_have_value("*")
    expect(form.locator("[name=verifyTls]")).to_be_checked()
    assert "remote-secret" not in page.content()
    assert listed(server) == []


def test_a_push_rule_from_creation_through_runs_to_deletion(server, registry, admin_page):
    page = admin_page
    form = page.locator("#new-rule")
    fill(form, name="to-reference", url=registry.url, repositories="admin/*, other/x")
    fill(form, username="robot", password="remote-secret", schedule="0 0 3 * * *")
    form.locator("[name=onPush]").uncheck()
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Replication rule to-reference created.")).to_be_visible()
    row = page.locator("#rule-to-reference")
    expect(row).to_contain_text(registry.url)
    expect(row).to_contain_text("as robot")
    expect(row.locator(".scope")).to_contain_text("admin/* other/x")
    expect(row.locator(".tags")).to_have_text("*")
    expect(row.locator(".triggers")).to_have_text(re.compile(r"^\s*0 0 3 \* \* \*\s*$"))
    expect(row.locator(".last-run")).to_have_text("never run")
    assert "remote-secret" not in page.content()
    assert remote_tags(registry, "admin/app") is None

    row.get_by_role("button", name="Run now").click()
    expect(page.get_by_text(re.compile(r"Run \d+ of to-reference queued\."))).to_be_visible()
    first = page.locator("#runs tbody tr").first
    expect(first.locator(".run-state")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    expect(first).to_contain_text("manual")
    expect(first.locator(".copied")).to_have_text("1")
    expect(first.locator(".failed")).to_have_text("0")
    item = page.locator("#items tbody tr")
    expect(item).to_have_count(1)
    expect(item.locator(".repository")).to_have_text("admin/app")
    expect(item.locator(".reference")).to_have_text("1")
    expect(item.locator(".outcome")).to_have_text("copied")
    assert remote_tags(registry, "admin/app") == ["1"]

    first.get_by_role("button", name=re.compile(r"Retry run \d+")).click()
    expect(page.get_by_text(re.compile(r"queued again as run \d+\."))).to_be_visible()
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    again = page.locator("#runs tbody tr").first
    expect(again.locator(".run-state")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    expect(again).to_contain_text("retry")
    expect(page.locator("#items .outcome")).to_have_text(["skipped"])

    page.get_by_role("link", name="Settings › Replication").click()
    last = page.locator("#rule-to-reference .last-run")
    expect(last).to_contain_text("succeeded")
    expect(last).to_contain_text("0 copied, 1 skipped, 0 failed")
    page.locator("#rule-to-reference").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Replication rule to-reference deleted")).to_be_visible()
    expect(page.locator("#rule-to-reference")).to_have_count(0)
    assert listed(server) == []


def test_a_pull_rule_copies_a_remote_repository_here(server, registry, admin_page):
    page = admin_page
    form = page.locator("#new-rule")
    form.locator("[name=direction]").select_option("pull")
    fill(form, name="from-reference", url=registry.url, tags="2 3")
    fill(form, remoteRepository="library/base", localRepository="admin/base")
    fill(form, repositories="ignored/*", remotePrefix="ignored")  # a push rule's: not sent
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Replication rule from-reference created.")).to_be_visible()
    row = page.locator("#rule-from-reference")
    expect(row.locator(".scope")).to_contain_text("library/base → admin/base")
    expect(row.locator(".tags")).to_contain_text("2 3")
    expect(row.locator(".triggers")).to_contain_text("by hand only")

    row.get_by_role("button", name="Run now").click()
    first = page.locator("#runs tbody tr").first
    expect(first.locator(".run-state")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    expect(page.locator("#items .reference")).to_have_text(["2"])
    expect(page.locator("#items .outcome")).to_have_text(["copied"])
    tags = RegistryClient(server.url, *ADMIN).request("GET", "/v2/admin/base/tags/list")
    assert tags.json()["tags"] == ["2"]

    # the repository's page says it is a read-only mirror, and of what (to an admin)
    page.goto(server.url + "/repositories/admin/base")
    mirror = page.locator("#mirror-of")
    expect(mirror).to_contain_text(f"Read-only mirror of {registry.url}/library/base")
    mirror.get_by_role("link", name="from-reference").click()
    expect(page.locator("#runs tbody tr")).to_have_count(1)

    page.goto(server.url + REPLICATION)
    page.locator("#rule-from-reference").get_by_role("button", name="Delete").click()
    expect(page.locator("#rule-from-reference")).to_have_count(0)
    assert listed(server) == []
