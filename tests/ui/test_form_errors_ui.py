"""Every refused form shows the server's message where the person looks, in a real browser
(htmx decides what is shown: the body uses hx-boost): beside the field it names (marked
aria-invalid, scrolled into view) or at the top of the page, and never under a stale success
message of an earlier action. At 1280 px and 390 px.

The failures are those the browser's own checks (required, pattern) let through, so the
server has to say them: a name taken, an unknown user, a bad CSV line, a bad license file, a
domain name with a bad port, a cron schedule that is not one."""

import json

import pytest
import requests
from playwright.sync_api import expect

from tests.support.server import USERS, DTRProcess
from tests.ui.conftest import log_in

pytestmark = pytest.mark.ui

ADMIN = ("admin", USERS["admin"][0])
WIDTHS = [1280, 390]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("form-errors-ui") / "instance", http=False)
    process.create_users()
    process.start()
    for method, path, body in (
        ("POST", "/accounts", {"type": "organization", "name": "acme"}),
        ("POST", "/accounts/acme/teams", {"name": "devs"}),
        ("POST", "/repositories/admin", {"name": "hello"}),
        ("POST", "/repositories/acme", {"name": "app"}),
    ):
        response = requests.request(
            method, f"{process.url}/api/v0{path}", json=body, auth=ADMIN, verify=False
        )
        assert response.status_code == 201, (path, response.text)
    yield process
    process.stop()


@pytest.fixture(params=WIDTHS, ids=[f"{width}px" for width in WIDTHS])
def width(request, page):
    page.set_viewport_size({"width": request.param, "height": 900})
    return request.param


@pytest.fixture
def admin_page(server, page, width):
    log_in(page, server.url)
    return page


def beside(page, form, field, text):
    """The message `text` is shown right by the field `field` of form `form`, which is
    marked invalid and described by it, and both are on the screen."""
    message = page.locator(f"#{form}-{field}-error")
    expect(message).to_be_visible()
    expect(message).to_contain_text(text)
    expect(message).to_be_in_viewport()
    field_input = page.locator(f"#{form} [name='{field}']")
    expect(field_input).to_have_attribute("aria-invalid", "true")
    assert f"{form}-{field}-error" in field_input.get_attribute("aria-describedby")
    assert page.locator(".field-error").count() == 1  # one message, not one per form
    return message


def at_the_top(page, text):
    message = page.locator(".flash.error")
    expect(message).to_be_visible()
    expect(message).to_contain_text(text)
    expect(message).to_be_in_viewport()


def no_success(page, text):
    expect(page.get_by_text(text)).to_have_count(0)


# (page, form, field, value typed, button, message): one value the server refuses
REFUSED_VALUES = [
    ("/repositories/new", "new-repository", "name", "hello", "Create repository", "admin/hello"),
    ("/organizations/new", "new-organization", "name", "writer", "Create organization", "writer"),
    ("/organizations/acme/teams/new", "new-team", "name", "devs", "Create team", "devs"),
    ("/organizations/acme/teams/devs", "add-member", "member", "nosuchuser", "Add", "nosuchuser"),
    ("/settings/garbage-collection", "gc-settings", "schedule", "every day at noon", "Save", ""),
]


@pytest.mark.parametrize(
    ("path", "form", "field", "value", "button", "message"),
    REFUSED_VALUES,
    ids=[case[1] for case in REFUSED_VALUES],
)
def test_a_refused_value_is_shown_beside_its_field(
    server, admin_page, path, form, field, value, button, message
):
    page = admin_page
    page.goto(f"{server.url}{path}")
    page.locator(f"#{form} [name='{field}']").fill(value)
    page.locator(f"#{form}").get_by_role("button", name=button, exact=True).click()
    beside(page, form, field, message)
    expect(page.locator(f"#{form} [name='{field}']")).to_have_value(value)  # kept, to correct


def test_a_grant_to_an_unknown_user_after_a_saved_change(server, admin_page):
    page = admin_page
    page.goto(f"{server.url}/repositories/admin/hello/settings")
    page.get_by_label("Short description").fill("hello, world")
    page.locator("#repository-settings").get_by_role("button", name="Save").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    page.get_by_label("User", exact=True).fill("nosuchuser")
    page.get_by_role("button", name="Grant to user").click()
    message = beside(page, "grant-user", "grantee", "nosuchuser")
    expect(message).to_be_visible()
    no_success(page, "Settings saved.")  # the earlier success does not stay beside the failure
    expect(page.locator("#grant-user [name=grantee]")).to_have_value("nosuchuser")


def test_deleting_a_repository_with_the_wrong_name_typed(server, admin_page):
    page = admin_page
    page.goto(f"{server.url}/repositories/admin/hello/settings")
    page.locator("#delete-repository [name=confirm]").fill("admin/hell")
    page.get_by_role("button", name="Delete admin/hello").click()
    beside(page, "delete-repository", "confirm", "Type admin/hello to confirm the deletion.")
    response = requests.get(
        f"{server.url}/api/v0/repositories/admin/hello", auth=ADMIN, verify=False
    )
    assert response.status_code == 200  # still there


def test_adding_a_user_whose_name_is_taken(server, admin_page):
    page = admin_page
    page.goto(f"{server.url}/settings/auth")
    form = page.locator("#add-user")
    form.get_by_label("Username").fill("writer")
    form.get_by_label("Password").fill("another-password-1")
    form.get_by_role("button", name="Add user").click()
    beside(page, "add-user", "username", "writer")
    expect(page.locator("#add-user [name=username]")).to_have_value("writer")


def test_a_csv_import_with_a_bad_role_creates_nobody(server, admin_page):
    page = admin_page
    page.goto(f"{server.url}/settings/auth")
    form = page.locator("#import-users")
    form.get_by_label("or paste it").fill(
        "username,password,role\ncsv-one,csv-password-one,read-only\ncsv-two,csv-password-2,king\n"
    )
    form.get_by_role("button", name="Import").click()
    message = beside(page, "import-users", "csv", "line 3")
    expect(message).to_contain_text("nobody was created")
    users = requests.get(f"{server.url}/api/v0/accounts", auth=ADMIN, verify=False).json()
    assert "csv-one" not in json.dumps(users)


def test_a_license_file_that_is_not_one(server, admin_page, tmp_path):
    page = admin_page
    bad = tmp_path / "license.json"
    bad.write_text('{"licensee": "me", "signature": "forged"}')
    page.goto(f"{server.url}/settings/license")
    page.get_by_label("License file (JSON)").set_input_files(str(bad))
    page.get_by_role("button", name="Upload license").click()
    beside(page, "upload-license", "file", "The license was refused")


def test_a_domain_name_with_a_bad_port_and_then_a_good_one(server, admin_page):
    page = admin_page
    page.goto(f"{server.url}/settings/general")
    page.get_by_label("Domain name").fill("vm:0")
    page.get_by_role("button", name="Save").click()
    beside(page, "general-settings", "domainName", "The port must be a number from 1 to 65535")
    # host:port is what docker needs when DTR is not on 443: accepted and used everywhere
    page.get_by_label("Domain name").fill("vm:8443")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Docker commands now use vm:8443")).to_be_visible()
    expect(page.locator("#trust-command")).to_contain_text("/etc/docker/certs.d/vm:8443/ca.crt")
    page.goto(f"{server.url}/repositories/admin/hello")
    expect(page.locator("#push-command")).to_contain_text("docker push vm:8443/admin/hello:")
    response = requests.put(
        f"{server.url}/api/v0/admin/settings/general",
        json={"domainName": None},
        auth=ADMIN,
        verify=False,
    )
    assert response.status_code == 200, response.text


def test_a_refusal_without_a_field_is_at_the_top(server, admin_page):
    """Deleting tags with none ticked names no field: the message is at the top of the tags."""
    page = admin_page
    page.goto(f"{server.url}/settings/auth")
    page.locator("#credential-rules").get_by_role("button", name="Save credential rules").click()
    expect(page.get_by_text("Credential rules saved.")).to_be_visible()
    page.goto(f"{server.url}/organizations/acme/teams/devs")
    expect(page.get_by_text("Credential rules saved.")).to_have_count(0)  # shown once only
    response = requests.post(
        f"{server.url}/api/v0/repositories/admin",
        json={"name": "tagged"},
        auth=ADMIN,
        verify=False,
    )
    assert response.status_code in (201, 409), response.text  # 409: made at the other width
    page.goto(f"{server.url}/repositories/admin/tagged")
    expect(page.locator("#push-command")).to_be_visible()  # no tags: nothing to delete yet
    # a POST nobody's browser makes without ticking: the server refuses it at the top
    page.evaluate(
        """() => { const f = document.createElement('form'); f.method = 'post';
                   f.action = location.pathname + '/tags/delete';
                   const c = document.createElement('input'); c.name = 'csrf_token';
                   c.value = document.querySelector('[name=csrf_token]')?.value
                          || JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
                   f.appendChild(c); document.body.appendChild(f); f.submit(); }"""
    )
    at_the_top(page, "Nothing was deleted: tick the tags to delete first.")
