"""SCENARIO.md sections 2, 3, 6 and 7 (soft delete) in a browser, on a fresh DTR over HTTPS:
the first admin, users of each role, a license, the domain name, an organization with two
teams and their repositories, what ahab sees, search, deleting a tag with the trash icon and
its confirmation, and the API console calling GET /api/v0/repositories as the logged-in
admin."""

import json
import re
import subprocess
import sys

import pytest
import requests
from playwright.sync_api import expect

from dtr.api.openapi import DOCUMENT
from tests.support.client import RegistryClient
from tests.support.images import simple_image
from tests.support.server import ROOT, DTRProcess

pytestmark = pytest.mark.ui

PASSWORDS = {
    "gordon": "gordon-password-1-0",
    "orca": "orca-password-1-1",
    "moby": "moby-password-1-2",
}
PASSWORDS["ahab"] = "ahab-password-1-3"
ROLES = {"orca": "read-write", "moby": "read-only", "ahab": "none"}
TEAMS = {"core": ["gordon", "orca"], "frontend": ["gordon", "moby", "ahab"]}


def license_cli(*args):
    result = subprocess.run(
        [sys.executable, "app.py", "license", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def license_keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("license-keys")
    license_cli("keygen", "--out", str(folder))
    return folder


@pytest.fixture(scope="module")
def fresh_dtr(tmp_path_factory, license_keys):
    """Just installed, HTTPS with its self-signed certificate, trusting the test license key."""
    env = {"DTR_LICENSE_PUBLIC_KEY": str(license_keys / "license_public_key.pem")}
    server = DTRProcess(tmp_path_factory.mktemp("ui") / "instance", http=False, env=env)
    server.start()
    yield server
    server.stop()


def log_in(page, base, name):
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/repositories$"))


WIDER_THAN_THE_WINDOW = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5)
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def htmx_ready(page, selector):
    """Wait until htmx has processed the element (after a boosted page swap), so that
    typing in it triggers its request."""
    page.wait_for_function(
        "s => { const e = document.querySelector(s); return e && e['htmx-internal-data']; }",
        arg=selector,
    )


def log_out(page):
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login"))


def test_scenario_in_the_browser(fresh_dtr, page, license_keys, tmp_path, screenshot):
    base = fresh_dtr.url

    # 2.1 A fresh install asks for the first admin
    page.goto(base + "/")
    page.wait_for_url(re.compile(r"/setup$"))
    screenshot(page, "setup")
    page.get_by_label("Username").fill("gordon")
    page.get_by_label("Password", exact=True).fill(PASSWORDS["gordon"])
    page.get_by_label("Password again").fill(PASSWORDS["gordon"])
    page.get_by_role("button", name="Create the administrator").click()
    page.wait_for_url(re.compile(r"/settings/auth$"))
    assert page.get_by_text("gordon admin").count() >= 1  # the user menu: name and role

    # Settings > Auth: Add user with a global role, one by one
    for name, role in ROLES.items():
        form = page.locator("#add-user")
        form.get_by_label("Username").fill(name)
        form.get_by_label("Password").fill(PASSWORDS[name])
        form.get_by_label("Global role").select_option(role)
        form.get_by_role("button", name="Add user").click()
        page.get_by_text(f"User {name} added.").wait_for()
    users = page.locator("table.users tbody tr")
    assert users.count() == 4
    assert page.get_by_label("Role of moby").input_value() == "read-only"
    screenshot(page, "settings-auth")

    # 2.2 Settings > License: a 30-day trial, then an uploaded license
    page.get_by_role("link", name="License").click()
    page.get_by_text("Trial", exact=True).wait_for()
    license_file = tmp_path / "license.json"
    license_cli(
        "issue",
        "--key",
        str(license_keys / "license_private_key.pem"),
        "--licensee",
        "Engineering Inc.",
        "--tier",
        "Enterprise",
        "--type",
        "Offline",
        "--seats",
        "10",
        "--expires",
        "2030-01-01",
        "--out",
        str(license_file),
    )
    page.get_by_label("License file (JSON)").set_input_files(str(license_file))
    page.get_by_role("button", name="Upload license").click()
    page.get_by_text("License installed.").wait_for()
    facts = page.locator(".facts").inner_text()
    assert "Engineering Inc." in facts and "Enterprise" in facts
    assert "4 used of 10" in facts and "2030-01-01" in facts
    screenshot(page, "settings-license")

    # 2.3 Settings > General: the domain name; the certificate is regenerated for it
    page.get_by_role("link", name="General").click()
    page.get_by_label("Domain name").fill("dtr.example.test")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Docker commands now use dtr.example.test").wait_for()
    served = requests.get(f"{base}/ca.crt", verify=False).text
    from cryptography import x509

    names = x509.load_pem_x509_certificate(served.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "dtr.example.test" in names.value.get_values_for_type(x509.DNSName)
    screenshot(page, "settings-general")

    # 3. Organization engineering with teams core and frontend and their members
    page.get_by_role("link", name="Organizations").click()
    page.get_by_role("button", name="New organization").click()
    page.get_by_label("Name").fill("engineering")
    page.get_by_role("button", name="Create organization").click()
    page.get_by_text("Organization engineering created.").wait_for()
    page.wait_for_url(re.compile(r"/organizations/engineering$"))
    for team, members in TEAMS.items():
        page.get_by_role("link", name="Teams").click()
        page.wait_for_url(re.compile(r"tab=teams$"))
        page.get_by_role("button", name="New team").click()
        page.wait_for_url(re.compile(r"/teams/new$"))
        page.get_by_label("Name").fill(team)
        page.get_by_role("button", name="Create team").click()
        page.get_by_text(f"Team {team} created.").wait_for()
        for member in members:
            htmx_ready(page, "#add-member-name")
            page.get_by_label("User to add").fill(member)
            page.get_by_role("button", name=f"Add {member}", exact=True).click()
            page.locator("#members").get_by_role("cell", name=member, exact=True).wait_for()
        assert page.locator("#members tbody tr").count() == len(members)
        page.get_by_role("link", name="engineering").click()  # the breadcrumb: its teams
        page.wait_for_url(re.compile(r"/organizations/engineering\?tab=teams$"))

    # From team core: Add repository barca, private, read-only; frontend: madrid read-write
    for team, repository, level in (
        ("core", "barca", "Read-only"),
        ("frontend", "madrid", "Read-write"),
    ):
        page.goto(f"{base}/organizations/engineering/teams/{team}")
        page.get_by_label("Name").fill(repository)
        page.get_by_label("Permission").select_option(label=level)
        page.get_by_role("button", name=f"Add to {team}").click()
        page.get_by_text(
            f"{team} has {level.lower()} access to engineering/{repository}."
        ).wait_for()
        row = page.locator("tr", has_text=f"engineering/{repository}")
        assert "private" in row.inner_text() and level.lower() in row.inner_text()
    screenshot(page, "team")

    # a pushed tag to delete later (barca:lona), through the registry as gordon
    client = RegistryClient(base, "gordon", PASSWORDS["gordon"])
    client.push_image("engineering/barca", "lona", simple_image("lona"))
    client.push_image("engineering/barca", "keep", simple_image("keep"))
    log_out(page)

    # 3/4.4 ahab sees madrid, not barca; search filters as he types
    log_in(page, base, "ahab")
    listing = page.locator("#repository-results")
    assert "engineering/madrid" in listing.inner_text()
    assert "engineering/barca" not in listing.inner_text()
    htmx_ready(page, "input[aria-label='Search repositories']")
    page.get_by_label("Search repositories").fill("bar")
    page.get_by_text("No repository matches “bar”.").wait_for()
    page.get_by_label("Search repositories").fill("mad")
    page.locator("#repository-results", has_text="engineering/madrid").wait_for()
    response = page.goto(f"{base}/repositories/engineering/barca")
    assert response.status == 404
    log_out(page)

    # 7. gordon deletes barca:lona with the trash icon; the repository stays
    log_in(page, base, "gordon")
    page.goto(f"{base}/repositories/engineering/barca")
    assert page.locator("table.tag-list tbody tr").count() == 2
    assert (
        "docker pull dtr.example.test/engineering/barca:keep"
        in page.locator("#pull-command").inner_text()
    )
    screenshot(page, "repository")
    page.get_by_role("button", name="Delete tag lona").click()  # then confirm on the page
    page.get_by_role("button", name="Delete 1 tag").click()
    page.get_by_text("Deleted tag lona from engineering/barca.").wait_for()
    assert page.locator("table.tag-list tbody tr").count() == 1
    tags = requests.get(
        f"{base}/api/v0/repositories/engineering/barca/tags",
        auth=("gordon", PASSWORDS["gordon"]),
        verify=False,
    ).json()["tags"]
    assert [tag["name"] for tag in tags] == ["keep"]
    # 7. hard delete: Settings > Garbage Collection, DTR's six-field schedule, then Run now
    page.goto(f"{base}/settings/garbage-collection")
    page.get_by_label("Cron schedule (UTC)").fill("0 0 0 * * *")
    page.get_by_label("Grace window (minutes)").fill("0")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Garbage collection runs on “0 0 0 * * *” (UTC).").wait_for()
    assert page.get_by_text("Next runs:").inner_text().count("00:00 UTC") == 3
    page.get_by_role("button", name="Run now").click()
    page.get_by_text("Garbage collection started.").wait_for()
    page.locator(".savings").wait_for()  # the page reloads when the run has finished
    history = page.locator("table.gc-history tbody tr").first.inner_text()
    assert "done" in history and "web:gordon" in history, history
    # lona's config and two layers; keep's blobs stay
    assert "in 3 blobs" in page.locator(".savings").inner_text()
    screenshot(page, "settings-garbage-collection")
    gone = requests.get(
        f"{base}/v2/engineering/barca/manifests/lona",
        auth=("gordon", PASSWORDS["gordon"]),
        verify=False,
    )
    assert gone.status_code == 404

    page.goto(f"{base}/repositories")
    screenshot(page, "repositories")

    # a narrow window: the repository page fits without sideways scrolling
    page.set_viewport_size({"width": 390, "height": 800})
    for path in ("/repositories", "/repositories/engineering/barca", "/settings/auth"):
        page.goto(base + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        wide = page.evaluate(WIDER_THAN_THE_WINDOW)
        assert overflow <= 1, f"{path} is {overflow}px wider than a 390px window: {wide}"
    screenshot(page, "repository-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})

    # 6. API docs in the user menu: run GET /api/v0/repositories as gordon
    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="API docs").click()
    # every tag of the document is listed (folded: see api-console.js)
    expect(page.locator(".opblock-tag")).to_have_count(len(DOCUMENT["tags"]))
    page.locator("#operations-tag-repositories").click()
    operation = page.locator(".opblock-get", has_text="/repositories").first
    operation.locator(".opblock-summary").click()
    # the console opens with "Try it out" on: Execute calls the API as gordon
    operation.get_by_role("button", name="Execute").click()
    result = operation.locator(".live-responses-table tbody .response-col_status").first
    result.wait_for()
    assert result.inner_text().strip().startswith("200")
    body = operation.locator(".live-responses-table tbody .microlight").first.inner_text()
    names = [entry["name"] for entry in json.loads(body)["repositories"]]
    assert {"barca", "madrid"} <= set(names)
    screenshot(page, "api-console")
