"""Single sign-on end to end, the way people use it: Chromium signs in to DTR through a real,
certified OpenID provider (oidc-provider under Node, tests/support/oidc_provider.py), the
provider's groups become team memberships and the admin role, a person makes an access token
in the portal and the real docker CLI pulls with it. Bad answers are shown as messages in the
browser (a forged state, and ID tokens from tests/support/hostile_oidc_provider.py); a
provider that is down is said so, and the local admin still logs in with a password."""

import re
import time
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import requests
from playwright.sync_api import expect

from tests.support.browser import log_in
from tests.support.hostile_oidc_provider import HostileOidcProvider
from tests.support.images import sha256, simple_image
from tests.support.oidc_provider import OidcProvider
from tests.support.server import USERS, DTRProcess

from .conftest import registry_client

pytestmark = pytest.mark.e2e
ADMIN = ("admin", USERS["admin"][0])
PASSWORDS = {"ada": "ada-password-1", "root": "root-password-1"}


@pytest.fixture(scope="module")
def sso(tmp_path_factory):
    """A DTR in auth mode OIDC with the real provider, and the provider."""
    folder = tmp_path_factory.mktemp("oidc-sso")
    dtr = DTRProcess(folder / "instance")
    provider = OidcProvider(folder / "provider")
    provider.add_client(
        "dtr",
        "dtr-client-secret",
        [f"{dtr.url}/login/oidc/callback"],
        [f"{dtr.url}/login"],
    )
    provider.set_user("ada", PASSWORDS["ada"], groups=["devs"])
    provider.set_user("root", PASSWORDS["root"], groups=["dtr-admins"])
    provider.start()
    dtr.create_users()
    dtr.start()
    answer = api(
        dtr, "PUT", "/admin/settings/auth", json={"mode": "oidc", "oidc": settings(provider)}
    )
    assert answer.status_code == 200, answer.text
    yield dtr, provider
    dtr.stop()
    provider.stop()


def settings(provider, **changes):
    return {
        "issuer": provider.issuer,
        "client_id": "dtr",
        "client_secret": "dtr-client-secret",
        "display_name": "Test IdP",
        "admin_group": "dtr-admins",
        **changes,
    }


def api(server, method, path, auth=ADMIN, **kwargs):
    return requests.request(method, f"{server.url}/api/v0{path}", auth=auth, **kwargs)


def sign_in(page, dtr, login, password=None):
    """Through DTR's login page and the provider's."""
    page.goto(f"{dtr.url}/login")
    page.get_by_role("button", name="Sign in with Test IdP").click()
    page.wait_for_url(re.compile(r"/interaction/|/repositories$|/login/oidc/callback"))
    if "/interaction/" in page.url:  # the provider does not know this browser yet
        page.locator("#login").fill(login)
        page.locator("#password").fill(password or PASSWORDS[login])
        page.get_by_role("button", name="Sign in").click()


def test_sign_in_team_access_token_and_docker_pull(sso, browser, docker, tmp_path):
    dtr, provider = sso
    # an organization whose team "devs" follows the provider's group "devs", granted a
    # private repository holding an image
    assert api(dtr, "POST", "/accounts", json={"name": "acme", "type": "organization"}).ok
    team = {"name": "devs", "oidcGroup": "devs"}
    assert api(dtr, "POST", "/accounts/acme/teams", json=team).status_code == 201
    assert api(dtr, "POST", "/repositories/acme", json={"name": "app"}).status_code == 201
    grant = {"accessLevel": "read-only"}
    assert api(dtr, "PUT", "/repositories/acme/app/teamAccess/devs", json=grant).ok
    image = simple_image("oidc-sso", docker=True)
    registry_client(dtr, "admin").push_image("acme/app", "1", image)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    # the login page offers single sign-on and says how the command line logs in
    page.goto(f"{dtr.url}/login")
    expect(page.get_by_text("personal access token")).to_be_visible()
    # a wrong password at the provider: its own message, nobody signed in to DTR
    sign_in(page, dtr, "ada", "not-her-password")
    expect(page.get_by_text("Invalid login or password")).to_be_visible()
    page.locator("#password").fill(PASSWORDS["ada"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/repositories$"))
    expect(page.get_by_role("link", name="acme/app")).to_be_visible()
    page.goto(f"{dtr.url}/account")
    expect(page.locator("dl.facts")).to_contain_text("ada")
    expect(page.locator("dl.facts")).to_contain_text("none")
    expect(page.get_by_text("DTR holds no password of yours")).to_be_visible()
    assert api(dtr, "GET", "/accounts/ada").json()["isOidc"] is True
    # the team page says who manages its members
    page.goto(f"{dtr.url}/organizations/acme/teams/devs")
    expect(page.locator("#provider-group")).to_contain_text("devs")

    # an access token made in the portal, then docker login and pull with it
    page.goto(f"{dtr.url}/access-tokens")
    page.get_by_label("Name").fill("laptop")
    page.locator('input[name="scopes"][value="registry:pull"]').check()
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-secret").inner_text().strip()
    docker.login(dtr, "ada", secret)
    reference = f"{dtr.host}/acme/app:1"
    pulled = docker("pull", reference)
    assert f"Digest: {sha256(image.manifest)}" in pulled.stdout
    assert docker.image_id(reference) == sha256(image.config)
    docker("rmi", reference)
    context.close()

    # out of the group at the provider: the next sign-in takes the team, and the access, away
    provider.set_user("ada", PASSWORDS["ada"], groups=["sales"])
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, dtr, "ada")
    page.wait_for_url(re.compile(r"/repositories$"))
    expect(page.get_by_role("link", name="acme/app")).to_have_count(0)
    context.close()
    members = api(dtr, "GET", "/accounts/acme/teams/devs/members").json()["members"]
    assert members == []
    denied = docker("pull", reference, ok=False)
    assert denied.returncode != 0
    assert "denied" in denied.stderr or "not found" in denied.stderr, denied.stderr


def test_admin_group_makes_admins_and_removal_takes_it_away(sso, page):
    dtr, provider = sso
    sign_in(page, dtr, "root")
    page.wait_for_url(re.compile(r"/repositories$"))
    page.goto(f"{dtr.url}/settings/auth")
    expect(page.get_by_role("heading", name="Single sign-on (OpenID Connect)")).to_be_visible()
    assert api(dtr, "GET", "/accounts/root").json()["role"] == "admin"
    provider.set_user("root", PASSWORDS["root"], groups=[])
    page.context.clear_cookies()
    sign_in(page, dtr, "root")
    page.wait_for_url(re.compile(r"/repositories$"))
    assert page.goto(f"{dtr.url}/settings/auth").status == 403
    assert api(dtr, "GET", "/accounts/root").json()["role"] == "none"
    provider.set_user("root", PASSWORDS["root"], groups=["dtr-admins"])


def test_logout_ends_the_dtr_session_and_offers_the_providers(sso, page):
    dtr, provider = sso
    sign_in(page, dtr, "ada")
    page.wait_for_url(re.compile(r"/repositories$"))
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#logged-out")).to_contain_text("You are logged out of DTR")
    page.get_by_role("link", name="Also sign out of Test IdP").click()
    page.get_by_role("button", name="Sign out").click()  # the provider's own confirmation
    page.wait_for_url(re.compile(r"/login"))
    assert page.goto(f"{dtr.url}/account").url.endswith("/login?next=/account")
    # the provider forgot the person too: signing in asks for the password again
    page.goto(f"{dtr.url}/login")
    page.get_by_role("button", name="Sign in with Test IdP").click()
    expect(page.locator("#password")).to_be_visible()


def test_the_providers_new_signing_key_is_fetched_by_itself(sso, page):
    dtr, provider = sso
    old_kid = provider.jwks()["keys"][0]["kid"]
    sign_in(page, dtr, "ada")
    page.wait_for_url(re.compile(r"/repositories$"))
    provider.restart(rotate_keys=True)  # a new key, the old one gone
    assert provider.jwks()["keys"][0]["kid"] != old_kid
    time.sleep(1.1)  # DTR fetches the keys again at most once a second
    page.context.clear_cookies()
    sign_in(page, dtr, "ada")
    page.wait_for_url(re.compile(r"/repositories$"))
    expect(page.locator(".user-menu summary")).to_contain_text("ada")


def test_a_forged_state_is_refused_in_the_browser(sso, page):
    """The provider's answer comes back with a state this browser never sent (an attacker's
    link): the redirect chain after the provider's login form is followed here, and the
    browser is sent to DTR's callback with the state replaced."""
    dtr, provider = sso

    def forge(route):
        if route.request.method != "POST":
            route.continue_()
            return
        location = route.fetch(max_redirects=0).headers["location"]
        while not location.startswith(dtr.url):
            hop = page.context.request.get(urljoin(provider.issuer, location), max_redirects=0)
            location = hop.headers["location"]
        parts = urlsplit(location)
        query = dict(parse_qsl(parts.query))
        query["state"] = "a-state-of-the-attackers-choice"
        forged = urlunsplit(parts._replace(query=urlencode(query)))
        route.fulfill(status=303, headers={"Location": forged})

    page.route(re.compile(r".*/interaction/.*"), forge)
    sign_in(page, dtr, "ada")
    expect(page.get_by_role("alert")).to_contain_text("state is not this sign-in's")
    assert page.goto(f"{dtr.url}/account").url.endswith("/login?next=/account")


def test_settings_form_tests_and_refuses_beside_the_field(sso, page):
    dtr, provider = sso
    log_in(page, dtr.url, "admin")
    page.goto(f"{dtr.url}/settings/auth")
    form = page.locator("#oidc-form")
    expect(page.locator("#oidc-redirect-uri")).to_have_text(f"{dtr.url}/login/oidc/callback")
    assert form.locator('input[name="client_secret"]').input_value() == ""  # never shown
    form.locator('input[name="issuer"]').fill("http://127.0.0.1:9")
    form.get_by_role("button", name="Test").click()
    # the stored secret is never sent to another issuer
    expect(page.locator("#oidc-test-outcome")).to_contain_text("required again")
    form.locator('input[name="client_secret"]').fill("dtr-client-secret")
    form.get_by_role("button", name="Test").click()
    expect(page.locator("#oidc-test-outcome")).to_contain_text("cannot be reached")
    form.get_by_role("button", name="Save OIDC and switch to OIDC").click()
    issuer = page.locator('#oidc-form input[name="issuer"]')
    expect(issuer).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#oidc-form")).to_contain_text("cannot be reached")
    expect(issuer).to_have_value("http://127.0.0.1:9")  # what was typed, kept
    assert page.locator('#oidc-form input[name="client_secret"]').input_value() == ""
    issuer.fill(provider.issuer)
    page.locator('#oidc-form input[name="client_secret"]').fill("dtr-client-secret")
    page.locator("#oidc-form").get_by_role("button", name="Test").click()
    expect(page.locator("#oidc-test-outcome")).to_contain_text("The provider answers")
    page.locator("#oidc-form").get_by_role("button", name="Save OIDC and switch to OIDC").click()
    expect(page.get_by_text("Single sign-on saved")).to_be_visible()
    assert api(dtr, "GET", "/admin/settings/auth").json()["oidc"]["issuer"] == provider.issuer


@pytest.mark.parametrize(
    "signing, claims, shown",
    [
        ("tampered", {}, "signature is not valid"),
        ("good", {"aud": "another-client"}, "aud"),
        ("good", {"exp": 1_000_000_000}, "expired"),
        ("good", {"nonce": "not-this-sign-in"}, "nonce"),
    ],
)
def test_bad_id_tokens_are_refused_in_the_browser(sso, page, signing, claims, shown):
    dtr, provider = sso
    with HostileOidcProvider() as hostile:
        changed = {"oidc": settings(hostile, client_id="dtr", client_secret="dtr-secret")}
        assert api(dtr, "PUT", "/admin/settings/auth", json=changed).status_code == 200
        try:
            hostile.signing, hostile.claims = signing, claims
            page.goto(f"{dtr.url}/login")
            page.get_by_role("button", name="Sign in with Test IdP").click()
            alert = page.get_by_role("alert")
            expect(alert).to_contain_text("Single sign-on failed")
            expect(alert).to_contain_text(shown)
            assert page.goto(f"{dtr.url}/account").url.endswith("/login?next=/account")
        finally:
            back = {"oidc": settings(provider)}
            assert api(dtr, "PUT", "/admin/settings/auth", json=back).status_code == 200


def test_provider_down_is_said_and_the_local_admin_still_logs_in(sso, page):
    dtr, provider = sso
    provider.stop()
    time.sleep(2.1)  # a sign-in checks that the provider answers at most every 2 s
    try:
        page.goto(f"{dtr.url}/login")
        page.get_by_role("button", name="Sign in with Test IdP").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("cannot be reached")
        expect(alert).to_contain_text("Local administrators can still log in")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(ADMIN[1])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/repositories$"))
        # and docker login with the local admin's password works too
        assert requests.get(f"{dtr.url}/auth/token", auth=ADMIN).status_code == 200
    finally:
        provider.start()
