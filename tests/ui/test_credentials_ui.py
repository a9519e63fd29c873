"""Credentials in a browser: a personal access token made from the user menu (its secret
shown once, with the docker login command, working on the registry until it is revoked), a
robot account of an organization (made, disabled, given a new secret, its access changed,
deleted), Settings > Auth > Credentials; every refused form shows its message in place."""

import re

import pytest
import requests

from tests.support.server import USERS, DTRProcess

pytestmark = pytest.mark.ui

ADMIN = ("admin", USERS["admin"][0])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("credentials-ui") / "instance", http=False)
    process.create_users()
    process.start()
    created = api(process, "POST", "/accounts", {"type": "organization", "name": "acme"})
    assert created.status_code == 201, created.text
    for name in ("app", "web"):
        created = api(process, "POST", "/repositories/acme", {"name": name})
        assert created.status_code == 201, created.text
    yield process
    process.stop()


def api(server, method, path, body=None):
    return requests.request(
        method, f"{server.url}/api/v0{path}", json=body, auth=ADMIN, verify=False, timeout=30
    )


def set_rules(server, **rules):
    response = api(server, "PUT", "/admin/settings/auth", rules)
    assert response.status_code == 200, response.text


def registry_status(server, user, secret):
    response = requests.get(f"{server.url}/v2/", auth=(user, secret), verify=False, timeout=30)
    return response.status_code


def token_scope(server, user, secret, scope):
    """The scope /auth/token grants `user` (None when it refuses the login)."""
    response = requests.get(
        f"{server.url}/auth/token",
        params={"scope": scope},
        auth=(user, secret),
        verify=False,
        timeout=30,
    )
    return response.json()["scope"] if response.status_code == 200 else None


def log_in(page, server, name):
    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(USERS[name][0])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/repositories$"))


def form_error(page):
    """The message of a refused form, once the page shows it."""
    message = page.locator(".flash.error, .field-error").first
    message.wait_for()
    return message.inner_text()


def test_an_access_token_from_the_user_menu(server, page, screenshot):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, server, "writer")
    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="Access tokens").click()
    page.wait_for_url(re.compile(r"/access-tokens$"))
    form = page.locator("#new-token")
    assert form.get_by_label("Expires in (days)").input_value() == "90"
    assert "At most 365 days" in form.inner_text()

    # refused: no scope, then a lifetime above the maximum (lowered since the page loaded)
    form.get_by_label("Name").fill("ci")
    form.get_by_label("registry:pull").uncheck()
    form.get_by_role("button", name="Create token").click()
    assert "A non-empty list" in form_error(page)
    assert page.url.endswith("/access-tokens")
    form.get_by_label("registry:pull").check()
    form.get_by_label("registry:push").check()
    set_rules(server, tokenMaxLifetimeDays=30)
    try:
        form.get_by_role("button", name="Create token").click()
        page.get_by_text("whole days from 1 to 30").wait_for()
        assert "At most 30 days" in form.inner_text()
    finally:
        set_rules(server, tokenMaxLifetimeDays=365)
    assert form.get_by_label("Name").input_value() == "ci"  # what was typed stays
    assert form.get_by_label("registry:push").is_checked()

    # made: the secret once, with the login command, and it works
    form.get_by_label("Expires in (days)").fill("30")
    form.get_by_role("button", name="Create token").click()
    shown = page.locator("#new-secret")
    shown.wait_for()
    secret = shown.inner_text()
    assert secret.startswith("dtr_pat_")
    command = page.locator("#docker-login-command").inner_text()
    assert command == f"docker login {server.host} -u writer --password-stdin"
    assert "paste the secret" in page.locator(".new-secret").inner_text()
    page.locator(".new-secret").get_by_role("button", name="Copy").first.click()
    page.locator(".new-secret").get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert registry_status(server, "writer", secret) == 200
    screenshot(page, "access-token-created")

    # refused: the same name again; the secret is not shown again
    form.get_by_label("Name").fill("ci")
    form.get_by_role("button", name="Create token").click()
    assert "already have an access token named 'ci'" in form_error(page)
    assert secret not in page.content()

    page.reload()
    assert page.locator("#new-secret").count() == 0 and secret not in page.content()
    row = page.locator("tr", has_text="ci")
    assert "registry:pull" in row.inner_text() and "registry:push" in row.inner_text()
    assert "never" not in row.inner_text()  # the registry call above was a use
    assert "127.0.0.1" in row.inner_text()

    row.get_by_role("button", name="Revoke ci").click()
    page.get_by_text("Access token ci revoked").wait_for()
    assert page.locator("tr", has_text="registry:push").count() == 0
    assert registry_status(server, "writer", secret) == 401


def test_a_robot_account_of_an_organization(server, page, screenshot):
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, server, "admin")
    page.goto(f"{server.url}/organizations/acme")
    page.get_by_role("link", name="Robot accounts").click()
    page.wait_for_url(re.compile(r"tab=robots$"))
    form = page.locator("#new-robot")
    form.get_by_label("Name").fill("ci")
    form.get_by_label("Description").fill("CI of the app")
    form.get_by_label("Access to acme/app").select_option("pull,push")
    form.get_by_role("button", name="Create robot account").click()
    shown = page.locator("#new-secret")
    shown.wait_for()
    secret = shown.inner_text()
    command = page.locator("#docker-login-command").inner_text()
    assert command == f"docker login {server.host} -u acme+ci --password-stdin"
    assert page.url.endswith("/organizations/acme?tab=robots")
    row = page.locator("tr", has_text="acme+ci")
    assert "acme/app: pull and push" in row.inner_text() and "enabled" in row.inner_text()
    scope = "repository:acme/app:pull,push"
    assert token_scope(server, "acme+ci", secret, scope) == scope
    assert token_scope(server, "acme+ci", secret, "repository:acme/web:pull") == ""
    screenshot(page, "robot-created")

    page.get_by_role("button", name="New robot account").click()
    form.get_by_label("Name").fill("ci")
    form.get_by_role("button", name="Create robot account").click()
    assert "acme already has a robot account named 'ci'" in form_error(page)
    assert secret not in page.content()

    row.get_by_role("button", name="Disable acme+ci").click()
    page.get_by_text("Robot acme+ci disabled").wait_for()
    assert "disabled" in row.inner_text()
    assert token_scope(server, "acme+ci", secret, scope) is None
    row.get_by_role("button", name="Enable acme+ci").click()
    page.get_by_text("Robot acme+ci enabled").wait_for()
    assert token_scope(server, "acme+ci", secret, scope) == scope

    row.get_by_role("button", name="New secret for acme+ci").click()
    page.locator("#new-secret").wait_for()
    renewed = page.locator("#new-secret").inner_text()
    assert renewed != secret
    assert token_scope(server, "acme+ci", secret, scope) is None
    assert token_scope(server, "acme+ci", renewed, scope) == scope

    row.get_by_role("link", name="Edit access of acme+ci").click()
    page.wait_for_url(re.compile(r"/organizations/acme/robots/ci$"))
    screenshot(page, "robot")
    page.get_by_label("All repositories of acme").check()
    page.get_by_label("Actions on every repository").select_option("pull")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Robot acme+ci saved.").wait_for()
    assert "all repositories of acme: pull" in row.inner_text()
    assert token_scope(server, "acme+ci", renewed, "repository:acme/web:pull,push") == (
        "repository:acme/web:pull"
    )

    row.get_by_role("button", name="Delete acme+ci").click()
    page.get_by_text("Robot acme+ci deleted.").wait_for()
    assert page.locator("tr", has_text="acme+ci").count() == 0
    assert token_scope(server, "acme+ci", renewed, scope) is None


def test_settings_auth_credential_rules(server, page):
    log_in(page, server, "admin")
    page.goto(f"{server.url}/settings/auth")
    rules = page.locator("#credential-rules")
    add_user = page.locator("#add-user")
    password = add_user.get_by_label("Password")
    assert password.get_attribute("minlength") == "12"
    rules.get_by_label("Password minimum length").fill("3")
    rules.get_by_role("button", name="Save credential rules").click()
    assert "A whole number from 8 to 128" in form_error(page)
    assert page.url.endswith("/settings/auth")

    rules.get_by_label("Password minimum length").fill("16")
    rules.get_by_role("button", name="Save credential rules").click()
    page.get_by_text("Credential rules saved.").wait_for()
    try:
        assert password.get_attribute("minlength") == "16"
        assert "At least 16 characters." in add_user.inner_text()
        assert page.get_by_label("New password for writer").get_attribute("minlength") == "16"
        add_user.get_by_label("Username").fill("shorty")
        password.fill("p" * 15)
        add_user.get_by_role("button", name="Add user").click()  # the browser refuses it
        assert password.evaluate("input => input.validity.tooShort")
        # another admin raises the minimum meanwhile: the server refuses with its words
        set_rules(server, passwordMinLength=20)
        password.fill("p" * 17)
        add_user.get_by_role("button", name="Add user").click()
        assert "oo short (17 characters): at least 20 characters" in form_error(page)
        assert api(server, "GET", "/accounts/shorty").status_code == 404
    finally:
        set_rules(server, passwordMinLength=12)
