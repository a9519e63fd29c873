"""Repository settings > Immutable tags and Webhooks, and restoring deleted tags, in a real
browser (Chromium, htmx): rules added, refused beside their field and deleted; a webhook added
with its secret shown once, refused values shown beside their field, its test event delivered
to a real receiver and shown in its deliveries, redelivered, disabled and deleted; a deleted
tag restored from the repository page, and a restore an immutable rule refuses shown at the
top; a retention policy set, refused beside its fields, changed and removed from the form, and
its dry run and run; Settings > Webhooks of the registry hearing a garbage collection, and an
organization's Webhooks and Retention tabs."""

import json
import os
import re

import pytest
import requests
from playwright.sync_api import expect

from tests.integration.test_webhooks import Receiver
from tests.support.client import RegistryClient
from tests.support.images import Image, simple_image
from tests.support.server import USERS, DTRProcess
from tests.ui.conftest import log_in

pytestmark = pytest.mark.ui
ADMIN = ("admin", USERS["admin"][0])
SETTINGS = "/repositories/admin/auto/settings"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(
        tmp_path_factory.mktemp("automation-ui") / "instance",
        http=False,
        env={
            "DTR_WEBHOOK_RETRY_SECONDS": "1",
            "DTR_WEBHOOK_POLL_SECONDS": "1",
            "DTR_WEBHOOK_ALLOW_LOCAL": "1",  # the receivers listen on loopback
            "DTR_TAG_RESTORE_DAYS": "14",
        },
    )
    process.create_users()
    process.start()
    created(process, "/repositories/admin", {"name": "auto"})
    yield process
    process.stop()


@pytest.fixture
def admin_page(server, page):
    log_in(page, server.url)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(server.url + SETTINGS)
    return page


def created(server, path, body):
    """POST to the API as the admin; the answer, which must be 201 Created."""
    response = requests.post(f"{server.url}/api/v0{path}", json=body, auth=ADMIN, verify=False)
    assert response.status_code == 201, response.text
    return response


def delete_webhook_back_to(page, address):
    """Delete the webhook whose page is shown; back on the list (`address`, a pattern), empty."""
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Webhook deleted.")).to_be_visible()
    expect(page).to_have_url(re.compile(address))
    expect(page.locator("#webhooks table")).to_contain_text("No webhook yet.")


def beside(page, form, field, text):
    message = page.locator(f"#{form}-{field}-error")
    expect(message).to_be_visible()
    expect(message).to_contain_text(text)
    expect(message).to_be_in_viewport()
    return message


def test_immutable_rules_are_added_refused_and_deleted(server, admin_page):
    page = admin_page
    form = page.locator("#immutable-rule")
    form.get_by_label("Tag pattern").fill("release-*")
    form.get_by_role("button", name="Make immutable").click()
    expect(page.get_by_text("Tags matching release-* are immutable.")).to_be_visible()
    rules = page.locator("#immutable-tags table")
    expect(rules).to_contain_text("release-*")
    # the same again, and a pattern with a space: the server says why, beside the field
    for typed, said in (("release-*", "exists already"), ("v 1", "1 to 128 of")):
        page.locator("#immutable-rule").get_by_label("Tag pattern").fill(typed)
        page.locator("#immutable-rule").get_by_role("button", name="Make immutable").click()
        beside(page, "immutable-rule", "pattern", said)
        expect(page.locator("#immutable-rule [name=pattern]")).to_have_value(typed)
    page.get_by_role("button", name="Delete the rule release-*").click()
    expect(page.get_by_text("Rule deleted.")).to_be_visible()
    expect(page.locator("#immutable-tags table")).not_to_contain_text("release-*")
    listed = requests.get(
        f"{server.url}/api/v0/repositories/admin/auto/immutableTagRules", auth=ADMIN, verify=False
    )
    assert listed.json()["immutableTagRules"] == []


@pytest.mark.parametrize(
    "url, events, secret, field, said",
    [
        ("ftp://example.com/hook", None, "", "url", "http:// or https:// URL with a host"),
        ("http://127.0.0.1:1/hook", [], "", "events", "non-empty list"),
        ("http://127.0.0.1:1/hook", None, "short", "secret", "16 to 255"),
    ],
    ids=["scheme", "no-events", "short-secret"],
)
def test_a_refused_webhook_says_why_beside_the_field(
    server, admin_page, url, events, secret, field, said
):
    page = admin_page
    form = page.locator("#new-webhook")
    form.get_by_label("URL").fill(url)
    if events is not None:
        for box in form.locator("[name=events]").all():
            box.uncheck()
    form.get_by_label("Secret (optional").fill(secret)
    form.get_by_role("button", name="Add webhook").click()
    beside(page, "new-webhook", field, said)
    expect(page.locator("#new-webhook [name=url]")).to_have_value(url)
    listed = requests.get(
        f"{server.url}/api/v0/repositories/admin/auto/webhooks", auth=ADMIN, verify=False
    )
    assert listed.json()["webhooks"] == []


def test_a_webhook_from_creation_to_deletion(server, admin_page):
    page = admin_page
    receiver = Receiver().start()
    try:
        form = page.locator("#new-webhook")
        form.get_by_label("URL").fill(receiver.url)
        form.get_by_role("button", name="Add webhook").click()
        secret = page.locator("#new-secret")
        expect(secret).to_be_visible()
        shown = secret.inner_text()
        assert len(shown) >= 32
        page.get_by_role("link", name="Deliveries").click()
        page.get_by_role("button", name="Send a test event").click()
        expect(page.get_by_text("Test event queued")).to_be_visible()
        (headers, body), *_ = receiver.wait_for(1)
        assert headers["X-DTR-Event"] == "webhook.test"
        assert json.loads(body)["repository"] == "admin/auto"
        rows = page.locator("#deliveries tbody tr")
        for _ in range(50):  # the worker records the answer just after sending
            page.reload()
            if "delivered" in rows.first.inner_text():
                break
        expect(rows.first.locator(".delivery-state")).to_have_text("delivered")
        expect(rows.first.locator(".last-answer")).to_contain_text("200")
        first_id = rows.first.locator("td").first.inner_text()
        page.get_by_role("button", name=f"Redeliver {first_id}").click()
        expect(page.get_by_text(f"Delivery {first_id} queued again")).to_be_visible()
        receiver.wait_for(2)
        assert receiver.received[1][1] == body
        page.get_by_role("button", name="Disable").click()
        expect(page.locator("#webhook-state")).to_have_text("disabled")
        delete_webhook_back_to(page, re.escape(SETTINGS))
    finally:
        receiver.stop()


def test_a_deleted_tag_is_restored_from_the_repository_page(server, admin_page):
    page = admin_page
    client = RegistryClient(server.url, *ADMIN)
    first, second = simple_image("ui-restore-1"), simple_image("ui-restore-2")
    client.push_image("admin/auto", "r1", first)
    client.push_image("admin/auto", "r2", first)
    api = f"{server.url}/api/v0/repositories/admin/auto"
    for tag in ("r1", "r2"):
        assert requests.delete(f"{api}/tags/{tag}", auth=ADMIN, verify=False).status_code == 204
    page.goto(f"{server.url}/repositories/admin/auto")
    page.get_by_text("Recently deleted tags (2)").click()
    page.get_by_role("button", name=re.compile(r"^Restore r1 ")).click()
    expect(page.get_by_text("Tag r1 restored.")).to_be_visible()
    expect(page.locator(".tag-list")).to_contain_text("r1")
    # r2 now points elsewhere and is immutable: restoring would move it, refused at the top
    client.push_image("admin/auto", "r2", second)
    rule = requests.post(
        f"{api}/immutableTagRules", json={"pattern": "r2"}, auth=ADMIN, verify=False
    )
    assert rule.status_code == 201, rule.text
    page.reload()
    page.get_by_text("Recently deleted tags (1)").click()
    page.get_by_role("button", name=re.compile(r"^Restore r2 ")).click()
    message = page.locator(".flash.error")
    expect(message).to_be_visible()
    expect(message).to_contain_text("immutable")
    pulled = client.get_manifest("admin/auto", "r2")
    assert pulled.content == second.manifest  # not moved


def test_retention_dry_run_then_run_from_the_settings_page(server, admin_page):
    page = admin_page
    client = RegistryClient(server.url, *ADMIN)
    created(server, "/repositories/admin", {"name": "ret"})
    for tag in ("one", "two", "three"):
        client.push_image("admin/ret", tag, simple_image(f"ui-ret-{tag}"))
    page.goto(f"{server.url}/repositories/admin/ret/settings")
    expect(page.locator("#retention")).to_contain_text("No retention policy")
    form = page.locator("#retention-policy")
    form.get_by_label("Rule 1: keep").select_option("mostRecent")
    form.get_by_label("Rule 1: N").fill("1")
    form.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Retention policy saved.")).to_be_visible()
    expect(page.locator("#retention-rules")).to_contain_text("keep the 1 most recently pushed")
    expect(page.locator("#retention-policy").get_by_label("Rule 1: N")).to_have_value("1")
    page.locator("#retention").get_by_role("button", name="Dry run").click()
    expect(page.get_by_text("Retention would delete 2 tags: one, two.")).to_be_visible()
    page.locator("#retention").get_by_role("button", name="Run now").click()
    expect(page.get_by_text("Retention deleted 2 tags: one, two.")).to_be_visible()
    expect(page.locator("#retention-runs tbody tr")).to_have_count(2)
    tags = client.request("GET", "/v2/admin/ret/tags/list").json()["tags"]
    assert tags == ["three"]


@pytest.mark.parametrize(
    "rows, schedule, field, said",
    [
        ([("mostRecent", "many", "", "")], "", "rules", "Rule 1, count: a whole number"),
        (
            [("mostRecent", "2", "", ""), ("pushedOrPulledWithinDays", "0", "", "")],
            "",
            "rules",
            "Rule 2, days: a whole number from 1",
        ),
        ([("mostRecent", "2", "v 1", "")], "", "rules", "Rule 1, tags:"),
        ([("", "", "", "")], "", "rules", "at least one rule"),
        ([("mostRecent", "2", "", "")], "every day", "schedule", "2 fields; use 5 fields"),
    ],
    ids=["not-a-number", "zero-days", "bad-pattern", "no-rule", "bad-schedule"],
)
def test_a_refused_retention_policy_says_why_beside_the_field_and_keeps_what_was_typed(
    server, admin_page, rows, schedule, field, said
):
    page = admin_page
    form = page.locator("#retention-policy")
    for index, (keep, number, tags, exclude) in enumerate(rows, start=1):
        form.get_by_label(f"Rule {index}: keep").select_option(keep)
        form.get_by_label(f"Rule {index}: N").fill(number)
        form.get_by_label(f"Rule {index}: tags").fill(tags)
        form.get_by_label(f"Rule {index}: except").fill(exclude)
    form.get_by_label("Schedule").fill(schedule)
    form.get_by_role("button", name="Save policy").click()
    beside(page, "retention-policy", field, said)
    form = page.locator("#retention-policy")
    expect(form.get_by_label("Rule 1: N")).to_have_value(rows[0][1])
    expect(form.get_by_label("Schedule")).to_have_value(schedule)
    policy = requests.get(
        f"{server.url}/api/v0/repositories/admin/auto/retentionPolicy", auth=ADMIN, verify=False
    )
    assert policy.status_code == 404  # nothing saved


def test_a_repository_policy_is_saved_changed_and_removed(server, admin_page):
    page = admin_page
    form = page.locator("#retention-policy")
    form.get_by_label("Rule 1: keep").select_option("pushedOrPulledWithinDays")
    form.get_by_label("Rule 1: N").fill("30")
    form.get_by_label("Rule 1: tags").fill("v*")
    form.get_by_label("Rule 1: except").fill("v0*")
    form.get_by_label("Rule 2: keep").select_option("mostRecent")
    form.get_by_label("Rule 2: N").fill("5")
    form.get_by_label("Schedule").fill("0 3 * * *")
    form.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Retention policy saved.")).to_be_visible()
    expect(page.locator("#retention-rules li")).to_have_count(2)
    url = f"{server.url}/api/v0/repositories/admin/auto/retentionPolicy"
    saved = requests.get(url, auth=ADMIN, verify=False).json()
    assert saved["rules"] == [
        {"keep": "pushedOrPulledWithinDays", "days": 30, "tags": "v*", "exclude": "v0*"},
        {"keep": "mostRecent", "count": 5, "tags": "*"},
    ]
    assert saved["schedule"] == "0 3 * * *"
    # emptying a row's kind drops it
    page.locator("#retention-policy").get_by_label("Rule 1: keep").select_option("")
    page.locator("#retention-policy").get_by_label("Rule 1: N").fill("")
    page.locator("#retention-policy").get_by_label("Rule 1: tags").fill("")
    page.locator("#retention-policy").get_by_label("Rule 1: except").fill("")
    page.locator("#retention-policy").get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Retention policy saved.")).to_be_visible()
    assert requests.get(url, auth=ADMIN, verify=False).json()["rules"] == [
        {"keep": "mostRecent", "count": 5, "tags": "*"}
    ]
    page.get_by_role("button", name="Remove this repository's policy").click()
    expect(page.get_by_text("Retention policy removed.")).to_be_visible()
    expect(page.locator("#retention")).to_contain_text("No retention policy")
    assert requests.get(url, auth=ADMIN, verify=False).status_code == 404


def test_a_registry_webhook_hears_a_garbage_collection(server, admin_page):
    """Settings > Webhooks: refused beside its field, then added for gc.finish only; a
    collection's outcome reaches the receiver and shows in the webhook's deliveries."""
    page = admin_page
    receiver = Receiver().start()
    try:
        page.goto(server.url + "/settings/webhooks")
        form = page.locator("#new-webhook")
        for box in form.locator("[name=events]").all():
            box.uncheck()
        form.get_by_label("gc.finish").check()
        form.get_by_label("URL").fill("ftp://example.com/hook")
        form.get_by_role("button", name="Add webhook").click()
        beside(page, "new-webhook", "url", "http:// or https:// URL with a host")
        expect(page.locator("#new-webhook").get_by_label("gc.finish")).to_be_checked()
        page.locator("#new-webhook").get_by_label("URL").fill(receiver.url)
        page.locator("#new-webhook").get_by_role("button", name="Add webhook").click()
        expect(page.locator("#new-secret")).to_be_visible()
        expect(page.locator("#webhooks table")).to_contain_text("gc.finish")
        started = requests.post(
            f"{server.url}/api/v0/admin/jobs",
            json={"job": "registryGC", "dryRun": True},
            auth=ADMIN,
            verify=False,
        )
        assert started.status_code == 202, started.text
        (headers, body), *_ = receiver.wait_for(1)
        assert headers["X-DTR-Event"] == "gc.finish"
        assert json.loads(body)["outcome"]["job"] == started.json()["id"]
        page.get_by_role("link", name="Deliveries").click()
        expect(page).to_have_url(re.compile(r"/settings/webhooks/\d+$"))
        expect(page.get_by_role("link", name="Settings › Webhooks")).to_be_visible()
        rows = page.locator("#deliveries tbody tr")
        for _ in range(50):
            page.reload()
            if "delivered" in rows.first.inner_text():
                break
        expect(rows.first).to_contain_text("gc.finish")
        expect(rows.first.locator(".delivery-state")).to_have_text("delivered")
        delete_webhook_back_to(page, r"/settings/webhooks$")
    finally:
        receiver.stop()


def test_an_organization_webhook_from_its_tab(server, admin_page):
    """The organization's Webhooks tab: refused beside its field, added, hears a repository
    created in the organization, and deleted back to the tab."""
    page = admin_page
    created(server, "/accounts", {"type": "organization", "name": "hookers"})
    receiver = Receiver().start()
    try:
        page.goto(server.url + "/organizations/hookers?tab=webhooks")
        form = page.locator("#new-webhook")
        form.get_by_label("URL").fill(receiver.url)
        for box in form.locator("[name=events]").all():
            box.uncheck()
        form.get_by_role("button", name="Add webhook").click()
        beside(page, "new-webhook", "events", "non-empty list")
        expect(page.locator("#new-webhook [name=url]")).to_have_value(receiver.url)
        page.locator("#new-webhook").get_by_label("repository.create").check()
        page.locator("#new-webhook").get_by_role("button", name="Add webhook").click()
        expect(page.locator("#new-secret")).to_be_visible()
        created(server, "/repositories/hookers", {"name": "app"})
        (headers, body), *_ = receiver.wait_for(1)
        assert headers["X-DTR-Event"] == "repository.create"
        assert json.loads(body)["repository"] == "hookers/app"
        page.get_by_role("link", name="Deliveries").click()
        expect(page.get_by_role("link", name="hookers › Webhooks")).to_be_visible()
        expect(page.locator("#deliveries tbody tr").first).to_contain_text("repository.create")
        delete_webhook_back_to(page, r"/organizations/hookers\?tab=webhooks$")
    finally:
        receiver.stop()


def test_an_organization_retention_policy_from_its_tab(server, admin_page):
    """The organization's Retention tab: a refused rule said beside the rules, a policy saved
    that its repositories' pages say applies, a dry run and a run across its repositories,
    and the policy removed."""
    page = admin_page
    client = RegistryClient(server.url, *ADMIN)
    created(server, "/accounts", {"type": "organization", "name": "keepers"})
    for repository, tags in (("a", ("one", "two", "three")), ("b", ("x", "y"))):
        created(server, "/repositories/keepers", {"name": repository})
        for tag in tags:
            client.push_image(f"keepers/{repository}", tag, simple_image(f"org-ret-{tag}"))
    page.goto(server.url + "/organizations/keepers?tab=retention")
    expect(page.locator("#retention")).to_contain_text("No retention policy")
    form = page.locator("#retention-policy")
    form.get_by_label("Rule 1: keep").select_option("mostRecent")
    form.get_by_label("Rule 1: N").fill("-1")
    form.get_by_role("button", name="Save policy").click()
    beside(page, "retention-policy", "rules", "Rule 1, count: a whole number")
    page.locator("#retention-policy").get_by_label("Rule 1: N").fill("1")
    page.locator("#retention-policy").get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Retention policy saved.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/organizations/keepers\?tab=retention$"))
    expect(page.locator("#retention-rules")).to_contain_text("keep the 1 most recently pushed")
    page.goto(server.url + "/repositories/keepers/a/settings")
    expect(page.locator("#retention")).to_contain_text("The policy of keepers applies")
    page.goto(server.url + "/organizations/keepers?tab=retention")
    page.locator("#retention").get_by_role("button", name="Dry run").click()
    expect(page.get_by_text("Retention would delete 3 tags")).to_be_visible()
    page.locator("#retention").get_by_role("button", name="Run now").click()
    expect(page.get_by_text("Retention deleted 3 tags")).to_be_visible()
    for repository, left in (("a", ["three"]), ("b", ["y"])):
        tags = client.request("GET", f"/v2/keepers/{repository}/tags/list").json()["tags"]
        assert tags == left
    expect(page.locator("#retention-runs tbody tr")).to_have_count(2)
    page.get_by_role("button", name="Remove the policy").click()
    expect(page.get_by_text("Retention policy removed.")).to_be_visible()
    expect(page.locator("#retention")).to_contain_text("No retention policy")


@pytest.fixture(scope="module")
def quota_org(server):
    """An organization with a repository, for the quota tests."""
    created(server, "/accounts", {"type": "organization", "name": "quotas"})
    created(server, "/repositories/quotas", {"name": "app"})
    return "quotas"


@pytest.mark.parametrize(
    "quota, unit, percent, field, said",
    [
        ("lots", "GiB", "80", "quota", "A number of GiB"),
        ("-1", "MiB", "80", "quota", "from 0"),
        ("1", "GiB", "0", "warningPercent", "A whole number from 1 to 100"),
        ("1", "GiB", "many", "warningPercent", "A whole number from 1 to 100"),
    ],
    ids=["words", "negative", "zero-percent", "percent-words"],
)
def test_a_refused_quota_says_why_beside_the_field(
    server, admin_page, quota_org, quota, unit, percent, field, said
):
    page = admin_page
    page.goto(f"{server.url}/organizations/{quota_org}")
    page.get_by_text("Storage quota").click()
    form = page.locator("#quota")
    form.get_by_label("Quota (empty: no limit)").fill(quota)
    form.get_by_label("Unit").select_option(unit)
    form.get_by_label("Warn at (% used)").fill(percent)
    form.get_by_role("button", name="Save quota").click()
    beside(page, "quota", field, said)
    expect(page.locator("#quota [name=quota]")).to_have_value(quota)
    usage = requests.get(
        f"{server.url}/api/v0/repositoryNamespaces/{quota_org}/usage", auth=ADMIN, verify=False
    )
    assert usage.json()["quotaBytes"] is None  # nothing saved


def test_a_quota_is_set_from_the_organization_page_and_refuses_a_push(
    server, admin_page, quota_org
):
    page = admin_page
    page.goto(f"{server.url}/organizations/{quota_org}")
    page.get_by_text("Storage quota").click()
    form = page.locator("#quota")
    form.get_by_label("Quota (empty: no limit)").fill("1.5")
    form.get_by_label("Unit").select_option("MiB")
    form.get_by_label("Warn at (% used)").fill("90")
    form.get_by_role("button", name="Save quota").click()
    expect(page.get_by_text("Quota set: 1.5 MiB.")).to_be_visible()
    expect(page.locator("#storage-used")).to_contain_text("of a 1.5 MiB quota")
    url = f"{server.url}/api/v0/repositoryNamespaces/{quota_org}/usage"
    usage = requests.get(url, auth=ADMIN, verify=False).json()
    assert (usage["quotaBytes"], usage["warningPercent"]) == (1572864, 90)
    big = Image([{"big.bin": os.urandom(2 * 2**20)}])  # random: 2 MiB gzipped too
    client = RegistryClient(server.url, *ADMIN)
    for blob in big.blobs:
        client.push_blob(f"{quota_org}/app", blob)
    refused = client.push_manifest(f"{quota_org}/app", "big", big.manifest, big.media_type)
    assert refused.status_code == 403 and "quota exceeded" in refused.text
    page.get_by_text("Storage quota").click()
    page.locator("#quota").get_by_label("Quota (empty: no limit)").fill("")
    page.locator("#quota").get_by_role("button", name="Save quota").click()
    expect(page.get_by_text("No quota.")).to_be_visible()
    assert requests.get(url, auth=ADMIN, verify=False).json()["quotaBytes"] is None
