"""The web portal through Flask's test client: who may use each page (every route of
`dtr.web.ROUTES`, for every kind of caller), the first-run set-up, login (throttling, `next`,
session fixation, sessions that end), CSRF on forms and on the JSON API's browser sessions,
escaping of what users write, bad form input, pagination and page times with many
repositories and tags. The browser scenario itself is tests/ui/test_scenario_ui.py."""

import base64
import itertools
import json
import re

import pytest
import requests

import dtr
from dtr.database import db
from dtr.models import Account, Manifest, RepositoryBlob, Tag, Team
from dtr.services import (
    access_tokens,
    accounts,
    auth_settings,
    general_settings,
    grants,
    repositories,
    robots,
    teams,
)
from dtr.services.settings import get_setting, set_setting
from dtr.web import ROUTES
from tests.integration.web_support import (
    Browser,
    active_content,
    build_app,
    identity,
    insert_repositories,
    insert_tags,
    reset_process_state,
    statements_of,
    token_in,
)
from tests.support.server import USERS

CALLERS = ("anon", "nobody", "reader", "writer", "owner", "member", "admin")
ROLES = {
    "nobody": "none",
    "reader": "read-only",
    "writer": "read-write",
    "owner": "none",  # in the owners team of acme
    "member": "none",  # in acme's team devs, which has read-only on acme/private
    "admin": "admin",
}
PASSWORDS = {name: f"{name}-secret" for name in ROLES}
PAYLOAD = "<script>alert(1)</script> <img src=x onerror=alert(1)> [link](javascript:alert(1))"
_names = itertools.count()


def unique(prefix):
    return f"{prefix}{next(_names)}"


@pytest.fixture(autouse=True)
def _fresh_process_state():
    reset_process_state()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """Users of every kind; organization acme (owners: admin, owner; team devs: member) with
    acme/private (devs: read-only) and acme/public and the robot acme+ci; organization hidden
    with hidden/secret; one tag on acme/private per caller, for the trash icon; an access
    token of member."""
    reset_process_state()
    app = build_app(tmp_path_factory.mktemp("web") / "instance")
    with app.app_context():
        for name, role in ROLES.items():
            accounts.create_user(name, PASSWORDS[name], role)
        admin = identity("admin")
        accounts.create_organization("acme", admin)
        teams.add_member(admin, "acme", "owners", "owner")
        teams.create_team(admin, "acme", "devs", "Developers")
        teams.add_member(admin, "acme", "devs", "member")
        repositories.create_repository(admin, "acme/private", short_description="Top secret")
        repositories.create_repository(admin, "acme/public", public=True)
        grants.set_repository_team_access(admin, "acme/private", "devs", "read-only")
        accounts.create_organization("hidden", admin)
        repositories.create_repository(admin, "hidden/secret")
        insert_tags("acme/private", ["latest", *(f"for-{caller}" for caller in CALLERS)])
        robots.create_robot(
            admin, "acme", "ci", "", None, [{"namespace": "acme", "actions": ["pull"]}]
        )
        token, _ = access_tokens.create_token(identity("member"), "member", "ci", ["api:read"])
        assert token.id == 1  # the table's MEMBER_TOKEN
    return app


@pytest.fixture(scope="module")
def browsers(app):
    """A logged-in browser per caller (anon: not logged in, with a session token)."""
    reset_process_state()
    found = {"anon": Browser(app)}
    for name in ROLES:
        found[name] = Browser(app)
        assert found[name].login(name, PASSWORDS[name]).status_code == 303
    return found


def outcome(response):
    """'L' for a redirect to the login form, else the status as text."""
    location = response.headers.get("Location", "")
    if response.status_code == 303 and location.startswith("/login"):
        return "L"
    return str(response.status_code)


def tag_names(app, full_name):
    with app.app_context():
        return set(
            db.session.scalars(
                db.select(Tag.name).where(
                    Tag.repository_id == repositories.find_repository(full_name).id
                )
            )
        )


def account_exists(app, name):
    with app.app_context():
        return accounts.find_account(name) is not None


def repository_exists(app, full_name):
    with app.app_context():
        return repositories.find_repository(full_name) is not None


# --- who may use each page --------------------------------------------------------------------

P = "/repositories/acme/private"
PUBLIC = "/repositories/acme/public"
SECRET = "/repositories/hidden/secret"
TEAM = "/organizations/acme/teams/devs"
GC = "/settings/garbage-collection"
OHOOK = "/organizations/acme/webhooks/99999"
ROBOT = "/organizations/acme/robots/ci"
NO_ROBOT = "/organizations/acme/robots/nosuchrobot"
MEMBER_TOKEN = "/access-tokens/1"
NO_DIGEST = "sha256:" + "0" * 64
ADMIN_ONLY_GET = "L 403 403 403 403 403 200"

# Columns: anon nobody reader writer owner member admin. L: a 303 to /login (for HTMX
# requests: 204 with HX-Redirect), 303: a redirect elsewhere, other numbers: the status.
# fmt: off
TABLE = [
    ("GET",  "/",                                 "L   303 303 303 303 303 303"),
    ("GET",  "/setup",                            "L   L   L   L   L   L   L"),
    ("POST", "/setup",                            "L   L   L   L   L   L   L"),
    ("GET",  "/login",                            "200 200 200 200 200 200 200"),
    ("GET",  "/repositories",                     "L   200 200 200 200 200 200"),
    ("GET",  "/repositories?q=acme&page=2",       "L   200 200 200 200 200 200"),
    ("GET",  "/repositories/new",                 "L   200 200 200 200 200 200"),
    ("POST", "/repositories/new",                 "L   400 400 400 400 400 400"),
    ("GET",  P,                                   "L   404 200 200 200 200 200"),
    ("GET",  PUBLIC,                              "L   200 200 200 200 200 200"),
    ("GET",  SECRET,                              "L   404 200 200 404 404 200"),
    ("POST", P + "/tags/delete",                  "L   404 403 303 303 403 303"),
    ("POST", P + "/tags/delete?review",           "L   404 403 200 200 403 200"),
    ("GET",  P + "/manifests/{digest}",           "L   404 200 200 200 200 200"),
    ("GET",  SECRET + "/manifests/{digest}",      "L   404 404 404 404 404 404"),
    ("GET",  P + "/manifests/" + NO_DIGEST,       "L   404 404 404 404 404 404"),
    ("GET",  P + "/manifests/{digest}/blobs/{blob}", "L   404 200 200 200 200 200"),
    ("GET",  P + "/manifests/{digest}/blobs/" + NO_DIGEST, "L   404 404 404 404 404 404"),
    ("GET",  P + "/settings",                     "L   404 403 403 200 403 200"),
    ("GET",  PUBLIC + "/settings",                "L   403 403 403 200 403 200"),
    ("GET",  SECRET + "/settings",                "L   404 403 403 404 404 200"),
    ("POST", P + "/settings",                     "L   404 403 403 303 403 303"),
    ("POST", P + "/access",                       "L   404 403 403 400 403 400"),
    ("POST", P + "/delete",                       "L   404 403 403 400 403 400"),
    ("POST", P + "/retention/run",                "L   404 403 403 303 403 303"),
    ("POST", P + "/retention",                    "L   404 403 403 400 403 400"),
    ("POST", P + "/retention/delete",             "L   404 403 403 404 403 404"),
    ("POST", P + "/immutable-tags",               "L   404 403 403 400 403 400"),
    ("POST", P + "/immutable-tags/99999/delete",  "L   404 403 403 404 403 404"),
    ("POST", P + "/webhooks",                     "L   404 403 403 400 403 400"),
    ("GET",  P + "/webhooks/99999",               "L   404 403 403 404 403 404"),
    ("POST", P + "/webhooks/99999/test",          "L   404 403 403 404 403 404"),
    ("POST", P + "/webhooks/99999/state",         "L   404 403 403 404 403 404"),
    ("POST", P + "/webhooks/99999/delete",        "L   404 403 403 404 403 404"),
    ("POST", P + "/webhooks/99999/deliveries/1/redeliver", "L   404 403 403 404 403 404"),
    ("POST", P + "/deleted-tags/99999/restore",   "L   404 403 303 303 403 303"),
    ("GET",  "/organizations",                    "L   200 200 200 200 200 200"),
    ("GET",  "/organizations/new",                ADMIN_ONLY_GET),
    ("POST", "/organizations/new",                "L   403 403 403 403 403 400"),
    ("GET",  "/organizations/acme",               "L   200 200 200 200 200 200"),
    ("GET",  "/organizations/acme?tab=members",   "L   200 200 200 200 200 200"),
    ("GET",  "/organizations/hidden",             "L   403 200 200 403 403 200"),
    ("GET",  "/organizations/acme/teams/new",     "L   403 403 403 200 403 200"),
    ("POST", "/organizations/acme/teams/new",     "L   403 403 403 400 403 400"),
    ("GET",  TEAM,                                "L   403 403 403 200 200 200"),
    ("GET",  TEAM + "/users?q=mem",               "L   403 403 403 200 403 200"),
    ("POST", TEAM + "/members",                   "L   403 403 403 404 403 404"),
    ("POST", TEAM + "/repositories",              "L   403 403 403 303 403 303"),
    ("POST", TEAM + "/repositories/revoke",       "L   403 403 403 404 403 404"),
    ("GET",  "/organizations/acme?tab=robots",    "L   200 200 200 200 200 200"),
    ("POST", "/organizations/acme/robots",        "L   403 403 403 400 403 400"),
    ("POST", "/organizations/hidden/robots",      "L   403 403 403 403 403 400"),
    ("GET",  ROBOT,                               "L   403 403 403 200 403 200"),
    ("GET",  NO_ROBOT,                            "L   403 403 403 404 403 404"),
    ("POST", ROBOT,                               "L   403 403 403 400 403 400"),
    ("POST", ROBOT + "/state",                    "L   403 403 403 303 403 303"),
    ("POST", NO_ROBOT + "/secret",                "L   403 403 403 404 403 404"),
    ("POST", NO_ROBOT + "/delete",                "L   403 403 403 404 403 404"),
    ("GET",  "/access-tokens",                    "L   200 200 200 200 200 200"),
    ("GET",  "/metrics",                          "401 403 403 403 403 403 200"),
    ("POST", "/access-tokens",                    "L   400 400 400 400 400 400"),
    ("POST", MEMBER_TOKEN + "/revoke",            "L   404 404 404 404 303 404"),
    ("GET",  "/account",                          "L   200 200 200 200 200 200"),
    ("POST", "/account/password",                 "L   400 400 400 400 400 400"),
    ("GET",  "/favicon.ico",                      "200 200 200 200 200 200 200"),
    ("GET",  "/settings",                         "L   403 403 403 403 403 303"),
    ("GET",  "/settings/auth",                    ADMIN_ONLY_GET),
    ("GET",  "/settings/license",                 ADMIN_ONLY_GET),
    ("GET",  "/settings/general",                 ADMIN_ONLY_GET),
    ("GET",  "/settings/garbage-collection",      ADMIN_ONLY_GET),
    ("GET",  "/settings/storage",                 ADMIN_ONLY_GET),
    ("GET",  "/settings/webhooks",                ADMIN_ONLY_GET),
    ("GET",  "/organizations/acme?tab=webhooks",  "L   200 200 200 200 200 200"),
    ("GET",  "/organizations/acme?tab=retention", "L   200 200 200 200 200 200"),
    ("POST", "/organizations/acme/quota",         "L   403 403 403 403 403 400"),
    ("POST", "/organizations/acme/retention",     "L   403 403 403 400 403 400"),
    ("POST", "/organizations/acme/retention/delete", "L   403 403 403 404 403 404"),
    ("POST", "/organizations/acme/retention/run", "L   403 403 403 303 403 303"),
    ("POST", "/organizations/acme/webhooks",      "L   403 403 403 400 403 400"),
    ("GET",  OHOOK,                               "L   403 403 403 404 403 404"),
    ("POST", OHOOK + "/test",                     "L   403 403 403 404 403 404"),
    ("POST", OHOOK + "/state",                    "L   403 403 403 404 403 404"),
    ("POST", OHOOK + "/delete",                   "L   403 403 403 404 403 404"),
    ("POST", OHOOK + "/deliveries/1/redeliver",   "L   403 403 403 404 403 404"),
    ("POST", "/settings/webhooks",                "L   403 403 403 403 403 400"),
    ("GET",  "/settings/webhooks/99999",          "L   403 403 403 403 403 404"),
    ("POST", "/settings/webhooks/99999/test",     "L   403 403 403 403 403 404"),
    ("POST", "/settings/webhooks/99999/state",    "L   403 403 403 403 403 404"),
    ("POST", "/settings/webhooks/99999/delete",   "L   403 403 403 403 403 404"),
    ("POST", "/settings/webhooks/99999/deliveries/1/redeliver", "L   403 403 403 403 403 404"),
    ("GET",  "/settings/proxies",                 ADMIN_ONLY_GET),
    ("POST", "/settings/proxies",                 "L   403 403 403 403 403 400"),
    ("POST", "/settings/proxies/nosuch/check",    "L   403 403 403 403 403 404"),
    ("POST", "/settings/proxies/nosuch/delete",   "L   403 403 403 403 403 404"),
    ("GET",  "/settings/replication",             ADMIN_ONLY_GET),
    ("POST", "/settings/replication",             "L   403 403 403 403 403 400"),
    ("GET",  "/settings/replication/nosuch",      "L   403 403 403 403 403 404"),
    ("GET",  "/settings/replication/nosuch?run=1", "L   403 403 403 403 403 404"),
    ("POST", "/settings/replication/nosuch/run",  "L   403 403 403 403 403 404"),
    ("POST", "/settings/replication/nosuch/delete", "L   403 403 403 403 403 404"),
    ("POST", "/settings/replication/runs/99999/retry", "L   403 403 403 403 403 404"),
    ("GET",  "/settings/logs",                    ADMIN_ONLY_GET),
    ("GET",  "/logs/stream",                      ADMIN_ONLY_GET),
    ("GET",  "/settings/nonsense",                "L   403 403 403 403 403 404"),
    ("POST", "/settings/auth",                    "L   403 403 403 403 403 400"),
    ("POST", "/settings/auth/try-login",          "L   403 403 403 403 403 200"),
    ("POST", "/settings/auth/oidc",               "L   403 403 403 403 403 400"),
    ("POST", "/settings/auth/oidc/test",          "L   403 403 403 403 403 200"),
    ("GET",  "/login/oidc",                       "400 400 400 400 400 400 400"),
    ("GET",  "/login/oidc/callback?code=x&state=y", "401 401 401 401 401 401 401"),
    ("POST", "/settings/auth/users",              "L   403 403 403 403 403 400"),
    ("POST", "/settings/auth/users/import",       "L   403 403 403 403 403 400"),
    ("POST", "/settings/auth/users/nobody",       "L   403 403 403 403 403 400"),
    ("POST", "/settings/auth/credentials",        "L   403 403 403 403 403 400"),
    ("POST", "/settings/license",                 "L   403 403 403 403 403 400"),
    ("POST", "/settings/general",                 "L   403 403 403 403 403 400"),
    ("POST", "/settings/garbage-collection",      "L   403 403 403 403 403 400"),
    ("POST", GC + "/run",                         "L   403 403 403 403 403 303"),
    ("GET",  GC + "/progress",                    ADMIN_ONLY_GET),
    ("POST", "/settings/storage",                 "L   403 403 403 403 403 400"),
    ("POST", "/settings/storage/test",            "L   403 403 403 403 403 200"),
    ("POST", "/settings/storage/verify",          "L   403 403 403 403 403 303"),
    ("GET",  "/settings/storage/verify/progress", ADMIN_ONLY_GET),
    ("GET",  "/api-docs",                         "L   200 200 200 200 200 200"),
]
# fmt: on
# What each POST of the table sends: harmless for those allowed (a bad value, an unknown
# name, or what is already there), so every caller can run every row.
FORMS = {
    "/setup": {"username": "intruder", "password": "p" * 12, "confirm": "p" * 12},
    "/repositories/new": {"namespace": "acme", "name": "Bad Name"},
    P + "/settings": {"visibility": "private", "shortDescription": "Top secret"},
    P + "/access": {"kind": "team", "action": "revoke", "grantee": "nosuchteam"},
    P + "/delete": {"confirm": "wrong"},
    P + "/immutable-tags": {"pattern": "bad pattern"},
    P + "/retention/run": {"dryRun": "true"},
    P + "/retention": {"keep-0": "mostRecent", "number-0": "0"},
    P + "/webhooks": {"url": "ftp://x/", "events": "tag.create"},
    P + "/webhooks/99999/state": {"enabled": "false"},
    "/settings/webhooks": {"url": "ftp://x/", "events": "gc.finish"},
    "/settings/proxies": {"name": "Bad Name", "upstreamUrl": "http://127.0.0.1:9/"},
    "/settings/replication": {"name": "Bad Name", "url": "http://127.0.0.1:9/"},
    "/organizations/acme/webhooks": {"url": "ftp://x/", "events": "tag.create"},
    OHOOK + "/state": {"enabled": "false"},
    "/organizations/acme/retention": {"keep-0": "mostRecent", "number-0": "0"},
    "/organizations/acme/retention/run": {"dryRun": "true"},
    "/organizations/acme/quota": {"quota": "lots", "unit": "GiB", "warningPercent": "80"},
    "/settings/webhooks/99999/state": {"enabled": "false"},
    P + "/tags/delete": {"tag": "for-{caller}", "confirmed": "yes"},  # each caller their own
    P + "/tags/delete?review": {"tag": "latest"},  # the confirmation: nothing deleted
    "/organizations/new": {"name": ""},
    "/organizations/acme/teams/new": {"name": ""},
    TEAM + "/members": {"action": "remove", "member": "nosuchuser"},
    TEAM + "/repositories": {"mode": "existing", "name": "private", "level": "read-only"},
    TEAM + "/repositories/revoke": {"name": "nosuchrepo"},
    "/settings/auth": {"mode": ""},
    "/settings/auth/users": {"username": "", "password": ""},
    "/settings/auth/users/import": {"csv": ""},
    "/settings/auth/users/nobody": {"action": "bogus"},
    "/settings/auth/credentials": {"passwordMinLength": "3", "tokenMaxLifetimeDays": "30"},
    "/organizations/acme/robots": {"name": ""},
    "/organizations/hidden/robots": {"name": ""},
    ROBOT: {"scope": "namespace", "namespaceActions": "bogus"},
    ROBOT + "/state": {"enabled": "true"},
    "/access-tokens": {"name": "no-scopes"},
    "/account/password": {"oldPassword": "x", "newPassword": "y" * 12, "confirm": "z" * 12},
    "/settings/license": {"license": ""},
    "/settings/general": {"domainName": ""},
    GC: {"graceMinutes": "soon"},
    GC + "/run": {"dryRun": "true"},
    "/settings/storage": {"backend": ""},
    "/settings/storage/test": {"backend": ""},
}
TESTED_ELSEWHERE = {("web.login", "POST"), ("web.logout", "POST")}


@pytest.fixture(scope="module")
def content(app):
    """What the table's {digest} and {blob} stand for: the manifest of acme/private:latest
    and its config blob (linked to the repository, as a push links it)."""
    with app.app_context():
        repository = repositories.find_repository("acme/private")
        manifest = db.session.scalar(
            db.select(Manifest)
            .join(Tag, Tag.manifest_id == Manifest.id)
            .where(Tag.repository_id == repository.id, Tag.name == "latest")
        )
        config = json.loads(manifest.payload)["config"]["digest"]
        if db.session.get(RepositoryBlob, (repository.id, config)) is None:
            db.session.add(RepositoryBlob(repository_id=repository.id, digest=config))
            db.session.commit()
        return {"digest": manifest.digest, "blob": config}


def concrete(path, caller="x", content=None):
    """A path of the table with its placeholders filled in."""
    values = content or {"digest": NO_DIGEST, "blob": NO_DIGEST}
    return path.format(caller=caller, **values)


@pytest.mark.parametrize(
    ("method", "path", "expected"), TABLE, ids=[f"{m} {p}" for m, p, _ in TABLE]
)
def test_who_may_use_each_page(app, browsers, content, method, path, expected):
    got = {}
    for caller in CALLERS:
        address = concrete(path, caller, content)
        if method == "GET":
            response = browsers[caller].get(address)
        else:
            form = {key: value.format(caller=caller) for key, value in FORMS.get(path, {}).items()}
            response = browsers[caller].post(address, form)
        got[caller] = outcome(response)
        if response.status_code == 404:
            assert "Top secret" not in response.text
        response.close()  # the log stream: without reading it
    assert got == dict(zip(CALLERS, expected.split(), strict=True))
    if path.startswith(P + "/tags/delete"):  # the refused did not delete their tag
        left = {name for name in tag_names(app, "acme/private") if name.startswith("for-")}
        assert left <= {"for-anon", "for-nobody", "for-reader", "for-member", "for-writer"}
        assert left >= {"for-anon", "for-nobody", "for-reader", "for-member"}
        assert "latest" in tag_names(app, "acme/private")


def test_the_table_covers_every_route(app):
    adapter = app.url_map.bind("localhost")
    covered = {
        (adapter.match(concrete(path.split("?")[0]), method=method)[0], method)
        for method, path, _ in TABLE
    }
    routes = {
        (f"web.{endpoint}", method) for _, _, methods, endpoint in ROUTES for method in methods
    }
    assert routes - covered == TESTED_ELSEWHERE


@pytest.mark.parametrize(
    "path", [path for method, path, expected in TABLE if method == "GET" and expected[0] == "L"]
)
def test_htmx_requests_of_anonymous_users_are_sent_to_the_login_form(browsers, path):
    response = browsers["anon"].get(concrete(path), htmx=True)
    assert response.status_code == 204
    # pages that refuse: HX-Redirect (a full page load); / and /setup just go on: HX-Location
    header = "HX-Location" if path in ("/", "/setup") else "HX-Redirect"
    assert response.headers[header].startswith("/login")


TRASH = 'aria-label="Delete tag latest"'


@pytest.mark.parametrize(
    ("caller", "trash", "settings"),
    [
        ("reader", False, False),
        ("member", False, False),
        ("writer", True, False),
        ("owner", True, True),
        ("admin", True, True),
    ],
)
def test_trash_icon_and_settings_button_only_for_those_allowed(browsers, caller, trash, settings):
    response = browsers[caller].get(P)
    assert response.status_code == 200
    assert "<strong>latest</strong>" in response.text
    assert (TRASH in response.text) is trash
    assert (f'href="{P}/settings"' in response.text) is settings


def test_a_private_repository_is_unknown_to_those_who_may_not_see_it(browsers):
    nobody = browsers["nobody"]
    hidden = nobody.get(P)
    missing = nobody.get("/repositories/acme/missing")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text == missing.text.replace("acme/missing", "acme/private")
    assert "Top secret" not in hidden.text
    listed = nobody.get("/repositories").text
    assert "acme/public" in listed and "acme/private" not in listed
    assert "acme/private" not in nobody.get("/repositories?q=private").text
    organization = nobody.get("/organizations/acme").text
    assert "acme/public" in organization and "acme/private" not in organization


def test_menus_show_only_what_the_caller_may_use(browsers):
    for caller in ROLES:
        page = browsers[caller].get("/organizations").text
        is_admin = caller == "admin"
        assert ('href="/settings"' in page) is is_admin
        assert ('href="/organizations/new"' in page) is is_admin
        assert f"{caller} <small" in page  # who is logged in
    teams_tab = browsers["reader"].get("/organizations/acme?tab=teams").text
    assert TEAM not in teams_tab and "Developers" not in teams_tab
    assert TEAM in browsers["member"].get("/organizations/acme?tab=teams").text


def test_htmx_search_answers_only_the_results_fragment(browsers):
    response = browsers["reader"].get(
        "/repositories?q=public", headers={"HX-Request": "true", "HX-Target": "repository-results"}
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="repository-results"')
    assert "acme/public" in response.text and "acme/private" not in response.text


# --- first run ----------------------------------------------------------------------------------


@pytest.fixture
def fresh_app(tmp_path):
    return build_app(tmp_path / "instance")


def test_a_fresh_install_sends_every_page_to_the_set_up(fresh_app):
    browser = Browser(fresh_app, "/setup")
    assert browser.get("/setup").status_code == 200
    for method, path, _ in TABLE:
        # the icon: always; /metrics is no page (401 until an admin exists)
        if method == "GET" and path not in ("/setup", "/favicon.ico", "/metrics"):
            response = browser.get(concrete(path))
            assert (response.status_code, response.headers["Location"]) == (303, "/setup"), path
    response = browser.get("/repositories", htmx=True)
    assert (response.status_code, response.headers["HX-Redirect"]) == (204, "/setup")


def test_set_up_creates_the_first_admin_once(fresh_app):
    browser = Browser(fresh_app, "/setup")
    form = {"username": "boss", "password": "boss-password-1", "confirm": "boss-password-1"}
    assert browser.post("/setup", form, csrf=False).status_code == 403
    assert not account_exists(fresh_app, "boss")
    mismatched = browser.post("/setup", {**form, "confirm": "other"})
    assert mismatched.status_code == 400 and "The two passwords differ." in mismatched.text
    bad_name = browser.post("/setup", {**form, "username": "Boss!"})
    assert bad_name.status_code == 400 and "invalid name" in bad_name.text
    assert not account_exists(fresh_app, "boss")

    created = browser.post("/setup", form)
    assert (created.status_code, created.headers["Location"]) == (303, "/settings/auth")
    page = browser.get("/settings/auth")  # logged in as the new admin
    assert page.status_code == 200 and "boss <small" in page.text
    with fresh_app.app_context():
        assert get_setting("auth_mode") == "managed"
        assert accounts.find_account("boss").role == "admin"

    later = Browser(fresh_app)
    assert later.get("/setup").headers["Location"] == "/login"
    second = later.post("/setup", {**form, "username": "boss2"})
    assert (second.status_code, second.headers["Location"]) == (303, "/login")
    assert not account_exists(fresh_app, "boss2")


# --- login and sessions --------------------------------------------------------------------------


@pytest.fixture
def person(app):
    """A new read-write user: (name, password)."""
    name = unique("person")
    with app.app_context():
        accounts.create_user(name, "first-password-1", "read-write")
    return name, "first-password-1"


def test_wrong_password_is_refused_with_a_message(app, person):
    name, _ = person
    for username, password in [(name, "wrong"), ("nosuchuser", "wrong"), (name, "")]:
        browser = Browser(app)
        response = browser.login(username, password)
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
        assert outcome(browser.get("/repositories")) == "L"


def test_logins_are_throttled_after_five_failures(app, person):
    name, password = person
    browser = Browser(app)
    for _ in range(5):
        assert browser.login(name, "wrong").status_code == 401
    blocked = browser.login(name, password)
    assert blocked.status_code == 429
    assert "Too many failed logins. Try again in" in blocked.text
    assert outcome(browser.get("/repositories")) == "L"
    assert Browser(app).login("reader", PASSWORDS["reader"]).status_code == 303  # others may


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/organizations?tab=teams", "/organizations?tab=teams"),
        ("//evil.com", "/repositories"),
        ("https://evil.com", "/repositories"),
        ("/\\evil.com", "/repositories"),
        ("/\t/evil.com", "/repositories"),
        ("/\n/evil.com", "/repositories"),
        ("javascript:alert(1)", "/repositories"),
    ],
)
def test_login_follows_next_only_to_paths_of_this_site(app, person, target, location):
    response = Browser(app).login(*person, next_page=target)
    assert (response.status_code, response.headers["Location"]) == (303, location)


def test_the_login_form_keeps_only_a_local_next(app):
    browser = Browser(app)
    assert 'name="next" value="/organizations"' in browser.get("/login?next=/organizations").text
    assert 'name="next" value=""' in browser.get("/login?next=//evil.com").text
    redirect = browser.get("/organizations/acme?tab=teams")
    assert redirect.headers["Location"] == "/login?next=/organizations/acme?tab%3Dteams"


def test_login_starts_a_new_session(app, person):
    browser = Browser(app)
    before, old_token = browser.session_cookie, browser.token
    assert before is not None
    assert browser.login(*person).status_code == 303
    assert browser.session_cookie != before
    assert browser.token != old_token
    refused = browser.post("/logout", {"csrf_token": old_token})  # the pre-login token is dead
    assert refused.status_code == 403
    assert browser.get("/repositories").status_code == 200


def test_logout_ends_the_session(app, person):
    browser = Browser(app)
    browser.login(*person)
    token = browser.token
    response = browser.logout()
    assert (response.status_code, response.headers["Location"]) == (303, "/login")
    assert outcome(browser.get("/repositories")) == "L"
    assert browser.post("/repositories/new", {"csrf_token": token}).status_code == 403


def test_a_password_change_ends_existing_sessions(app, person):
    name, password = person
    browsers = [Browser(app), Browser(app)]
    for browser in browsers:
        browser.login(name, password)
        assert browser.get("/repositories").status_code == 200
    with app.app_context():
        accounts.change_password(identity("admin"), name, None, "second-password-1")
    for browser in browsers:
        assert outcome(browser.get("/repositories")) == "L"
    assert Browser(app).login(name, password).status_code == 401
    assert Browser(app).login(name, "second-password-1").status_code == 303


def test_a_deactivated_users_session_ends(app, person):
    name, password = person
    browser = Browser(app)
    browser.login(name, password)
    with app.app_context():
        accounts.set_active(identity("admin"), name, False)
    assert outcome(browser.get("/repositories")) == "L"
    assert Browser(app).login(name, password).status_code == 401


def test_a_role_change_applies_to_open_sessions(app):
    name = unique("boss")
    with app.app_context():
        accounts.create_user(name, "boss-password-1", "admin")
    browser = Browser(app)
    browser.login(name, "boss-password-1")
    assert browser.get("/settings/auth").status_code == 200
    with app.app_context():
        accounts.set_role(identity("admin"), name, "read-only")
    assert browser.get("/settings/auth").status_code == 403


def test_the_servers_session_cookie_is_httponly_and_samesite(dtr):
    session = requests.Session()
    token = token_in(session.get(f"{dtr.url}/login").text)
    response = session.post(
        f"{dtr.url}/login",
        data={"csrf_token": token, "username": "reader", "password": USERS["reader"][0]},
        allow_redirects=False,
    )
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("dtr_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP (serve --http): a Secure cookie never returns
    assert session.get(f"{dtr.url}/repositories", allow_redirects=False).status_code == 200


def test_session_cookies_are_secure_by_default(tmp_path):
    app = dtr.create_app(str(tmp_path / "instance"))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


# --- CSRF -----------------------------------------------------------------------------------------


@pytest.fixture
def doomed(app):
    """A repository of the admin to delete: its full name."""
    full_name = f"admin/{unique('doomed')}"
    with app.app_context():
        repositories.create_repository(identity("admin"), full_name)
        insert_tags(full_name, ["one", "two"])
    return full_name


def test_forms_without_the_token_are_refused_and_change_nothing(app, browsers, doomed):
    admin = browsers["admin"]
    user, organization = unique("csrfuser"), unique("csrforg")
    attempts = [
        ("/settings/auth/users", {"username": user, "password": "p" * 12, "role": "none"}),
        ("/organizations/new", {"name": organization}),
        (f"/repositories/{doomed}/delete", {"confirm": doomed}),
        (f"/repositories/{doomed}/tags/delete", {"tag": "one", "confirmed": "yes"}),
        ("/logout", {}),
    ]
    for path, form in attempts:
        response = admin.post(path, form, csrf=False)
        assert response.status_code == 403, path
        assert "CSRF check failed" in response.text
        assert admin.post(path, {**form, "csrf_token": "forged"}).status_code == 403
    assert not account_exists(app, user) and not account_exists(app, organization)
    assert repository_exists(app, doomed) and tag_names(app, doomed) == {"one", "two"}
    assert admin.get("/settings/auth").status_code == 200  # still logged in
    anon = Browser(app)  # login forms too: no logging a victim in to the attacker's account
    login = {"username": "reader", "password": PASSWORDS["reader"]}
    assert anon.post("/login", login, csrf=False).status_code == 403
    assert outcome(anon.get("/repositories")) == "L"


def test_a_token_of_another_session_is_refused(app, browsers):
    user = unique("stolen")
    form = {"username": user, "password": "p" * 12, "csrf_token": browsers["reader"].token}
    assert browsers["admin"].post("/settings/auth/users", form).status_code == 403
    assert not account_exists(app, user)
    form["csrf_token"] = browsers["admin"].token
    assert browsers["admin"].post("/settings/auth/users", form).status_code == 303
    assert account_exists(app, user)


def test_htmx_posts_send_the_token_in_a_header(app, browsers, doomed):
    admin = browsers["admin"]
    headers = {"HX-Request": "true"}
    path, form = f"/repositories/{doomed}/tags/delete", {"tag": "one", "confirmed": "yes"}
    assert admin.post(path, form, csrf=False, headers=headers).status_code == 403
    deleted = admin.post(path, form, csrf=False, headers={**headers, "X-CSRF-Token": admin.token})
    assert (deleted.status_code, deleted.headers["HX-Location"]) == (204, f"/repositories/{doomed}")
    assert tag_names(app, doomed) == {"two"}


def test_the_api_with_a_browser_session_needs_the_token_to_change_things(app, browsers):
    admin = browsers["admin"]
    name = unique("apirepo")
    header = {"X-CSRF-Token": admin.token}
    assert admin.get("/api/v0/repositories").status_code == 200
    calls = [
        ("POST", "/api/v0/repositories/admin", {"name": name}, 201),
        ("PATCH", f"/api/v0/repositories/admin/{name}", {"shortDescription": "x"}, 200),
        ("PUT", "/api/v0/accounts/nobody/activate", None, 200),
        ("DELETE", f"/api/v0/repositories/admin/{name}", None, 204),
    ]
    for method, path, body, status in calls:
        refused = admin.client.open(path, method=method, json=body)
        assert refused.status_code == 403, (method, path)
        assert refused.json["errors"][0]["code"] == "NOT_AUTHORIZED"
        forged = admin.client.open(path, method=method, json=body, headers={"X-CSRF-Token": "x"})
        assert forged.status_code == 403
        if method == "POST":
            assert not repository_exists(app, f"admin/{name}")
        done = admin.client.open(path, method=method, json=body, headers=header)
        assert done.status_code == status, (method, path, done.text)
    assert not repository_exists(app, f"admin/{name}")


def test_the_api_with_http_basic_needs_no_token(app):
    client = app.test_client()
    basic = {"Authorization": "Basic " + _basic("admin", PASSWORDS["admin"])}
    name = unique("basicrepo")
    created = client.post("/api/v0/repositories/admin", json={"name": name}, headers=basic)
    assert created.status_code == 201
    assert client.delete(f"/api/v0/repositories/admin/{name}", headers=basic).status_code == 204


def _basic(user, password):
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# --- escaping -------------------------------------------------------------------------------------

ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


def assert_inert(response):
    assert response.status_code in (200, 400, 401, 404), response.status_code
    assert active_content(response.text) == []
    assert "<script>alert" not in response.text
    assert "Content-Security-Policy" in response.headers
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default 'self'


def test_repository_descriptions_render_as_text(browsers):
    admin = browsers["admin"]
    name = unique("xss")
    created = admin.post(
        "/repositories/new",
        {"namespace": "acme", "name": name, "shortDescription": "<script>alert(1)</script>"},
    )
    assert created.status_code == 303
    markdown = f"# Hello\n\n{PAYLOAD}\n\n<script>alert(2)</script>\n\n**bold** [ok](https://x.org)"
    saved = admin.post(
        f"/repositories/acme/{name}/settings",
        {"visibility": "public", "shortDescription": PAYLOAD[:140], "longDescription": markdown},
    )
    assert saved.status_code == 303
    page = admin.get(f"/repositories/acme/{name}")
    assert_inert(page)
    assert ESCAPED_SCRIPT in page.text
    assert "<h1>Hello</h1>" in page.text and "<strong>bold</strong>" in page.text  # Markdown
    assert '<a href="https://x.org">ok</a>' in page.text
    for path in [
        "/repositories",
        "/repositories?q=alert",
        f"/repositories/acme/{name}/settings",
        "/organizations/acme",
    ]:
        response = admin.get(path)
        assert_inert(response)
        assert ESCAPED_SCRIPT in response.text, path
    fragment = admin.get(
        "/repositories?q=onerror", headers={"HX-Request": "true", "HX-Target": "repository-results"}
    )
    assert_inert(fragment)
    assert f"acme/{name}" in fragment.text


def test_team_names_are_checked_and_descriptions_render_as_text(app, browsers):
    admin = browsers["admin"]
    refused = admin.post("/organizations/acme/teams/new", {"name": "<script>alert(1)</script>"})
    assert refused.status_code == 400
    assert "invalid name" in refused.text
    assert_inert(refused)
    with app.app_context():
        assert db.session.scalar(db.select(Team.id).where(Team.name.like("%script%"))) is None
    name = unique("xteam")
    created = admin.post("/organizations/acme/teams/new", {"name": name, "description": PAYLOAD})
    assert created.status_code == 303
    for path in [f"/organizations/acme/teams/{name}", "/organizations/acme?tab=teams"]:
        response = admin.get(path)
        assert_inert(response)
        assert ESCAPED_SCRIPT in response.text


def test_echoed_input_renders_as_text(browsers):
    anon = browsers["anon"]
    assert_inert(anon.login('"><script>alert(1)</script>', "x"))
    assert_inert(browsers["reader"].get("/repositories?q=<script>alert(1)</script>"))
    assert_inert(browsers["admin"].post("/organizations/new", {"name": '"><img src=x onerror=1>'}))


def test_pages_and_error_pages_carry_the_security_headers(browsers):
    for caller, path in [("anon", "/login"), ("reader", "/settings/auth"), ("nobody", P)]:
        response = browsers[caller].get(path)
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- bad input ------------------------------------------------------------------------------------


FORM_MESSAGE = re.compile(
    r'<p class="flash error" role="alert">(.*?)</p>'
    r'|<small class="field-error" id="[^"]*" role="alert">(.*?)</small>',
    re.S,
)


def shown_message(response):
    """The refusal the page shows: at the top, or beside the field it names."""
    found = FORM_MESSAGE.search(response.text)
    assert found, "no form message"
    return found.group(1) or found.group(2)


def form_error(response):
    assert response.status_code == 400, response.status_code
    return shown_message(response)


def test_a_bad_repository_name_is_a_form_message(app, browsers):
    admin = browsers["admin"]
    response = admin.post("/repositories/new", {"namespace": "admin", "name": "Bad Name"})
    assert "invalid" in form_error(response).lower()
    assert 'value="Bad Name"' in response.text  # the form keeps what was typed
    assert not repository_exists(app, "admin/bad-name")
    taken = admin.post("/repositories/new", {"namespace": "acme", "name": "private"})
    assert "already exists" in form_error(taken)


def test_adding_a_user_without_password_is_a_form_message(app, browsers):
    name = unique("nopass")
    response = browsers["admin"].post(
        "/settings/auth/users", {"username": name, "password": "", "role": "none"}
    )
    assert "Required" in form_error(response)
    assert not account_exists(app, name)


def test_a_csv_import_with_one_bad_line_creates_nobody(app, browsers):
    good, other = unique("csvgood"), unique("csvother")
    text = (
        f"username,password,role\n{good},password-one,read-only\nBad Name,password-two\n"
        f"{other},password-three\n"
    )
    response = browsers["admin"].post("/settings/auth/users/import", {"csv": text})
    message = form_error(response)
    assert "csv line 3" in message and "nobody was created" in message
    assert not account_exists(app, good) and not account_exists(app, other)
    done = browsers["admin"].post("/settings/auth/users/import", {"csv": f"{good},password-one\n"})
    assert done.status_code == 303 and account_exists(app, good)


@pytest.mark.parametrize(
    ("domain", "lifetime", "field", "message"),
    [
        ("bad domain!", "900", "domainName", "A host name or IP address, with the port"),
        ("-bad.example.com", "900", "domainName", "A host name or IP address"),
        ("vm:0", "900", "domainName", "The port must be a number from 1 to 65535"),
        ("good.example.com", "abc", "tokenLifetimeSeconds", "Whole seconds from 60"),
        ("good.example.com", "5", "tokenLifetimeSeconds", "Whole seconds from 60"),
        ("good.example.com", "", "tokenLifetimeSeconds", "Whole seconds from 60"),
        ("good.example.com", "²", "tokenLifetimeSeconds", "Whole seconds"),  # int() refuses it
    ],
)
def test_bad_general_settings_save_nothing(app, browsers, domain, lifetime, field, message):
    """Refused beside the field (empty is allowed for the name: the browser's address)."""
    with app.app_context():
        before = general_settings.describe(identity("admin"))
    response = browsers["admin"].post(
        "/settings/general",
        {"domainName": domain, "tokenLifetimeSeconds": lifetime, "createOnPush": "on"},
    )
    assert message in form_error(response)
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', response.text)
    reset_process_state()
    with app.app_context():
        assert general_settings.describe(identity("admin")) == before


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/settings/garbage-collection", {"graceMinutes": "²", "schedule": ""}),
        (
            "/settings/auth",
            {"mode": "ldap", "server_url": "ldap://x", "sync_interval_minutes": "²"},
        ),
    ],
)
def test_numbers_int_cannot_read_are_a_form_message(app, browsers, path, form):
    assert form_error(browsers["admin"].post(path, form))
    with app.app_context():
        assert get_setting("auth_mode") == "managed"


def test_deleting_a_tag_deleted_meanwhile_is_said_so(app, browsers, doomed):
    admin = browsers["admin"]
    path = f"/repositories/{doomed}/tags/delete"
    done = admin.post(path, {"tag": "one", "confirmed": "yes"})
    assert (done.status_code, done.headers["Location"]) == (303, f"/repositories/{doomed}")
    assert f"Deleted tag one from {doomed}." in flashes(admin.get(done.headers["Location"]))
    again = admin.post(path, {"tag": "one", "confirmed": "yes", "sort": "-pushed", "q": "o"})
    assert again.headers["Location"] == f"/repositories/{doomed}?sort=-pushed&q=o"
    shown = flashes(admin.get(again.headers["Location"]))
    assert shown == [f"Not deleted, {doomed} has no tag one (deleted meanwhile?)."]
    review = admin.post(path, {"tag": "one"})
    assert review.status_code == 404
    assert f"Nothing was deleted: {doomed} has no tag one (deleted meanwhile?)." in review.text
    assert tag_names(app, doomed) == {"two"}


def flashes(response):
    return re.findall(r'<p class="flash \w+" role="\w+">([^<]*)</p>', response.text)


def test_deleting_a_repository_needs_its_name_typed(app, browsers, doomed):
    admin = browsers["admin"]
    wrong = admin.post(f"/repositories/{doomed}/delete", {"confirm": "admin/other"})
    assert f"Type {doomed} to confirm" in form_error(wrong)
    assert repository_exists(app, doomed)
    done = admin.post(f"/repositories/{doomed}/delete", {"confirm": doomed})
    assert (done.status_code, done.headers["Location"]) == (303, "/repositories")
    assert not repository_exists(app, doomed)


@pytest.mark.parametrize(
    "path",
    [
        "/repositories?page=abc",
        "/repositories?page=0",
        "/repositories?page=-1",
        "/repositories?page=99999999999",
        "/repositories?page=²",
        P + "?page=1e3",
        "/organizations/acme?tab=nonsense",
        "/organizations/nosuchorg",
        "/organizations/acme/teams/nosuchteam",
        "/repositories/acme/Bad%20Name",
    ],
)
def test_odd_addresses_never_fail(browsers, path):
    assert browsers["admin"].get(path).status_code in (200, 400, 404)


# --- credentials: access tokens, robot accounts, credential rules -----------------------------

SECRET_SHOWN = re.compile(r'<code id="new-secret">([^<]+)</code>')
LOGIN_COMMAND = re.compile(r'<code id="docker-login-command">([^<]+)</code>')


def registry_status(app, user, secret):
    response = app.test_client().get(
        "/v2/", headers={"Authorization": "Basic " + _basic(user, secret)}
    )
    return response.status_code


def test_an_access_token_is_shown_once_works_and_is_revoked(app, person):
    name, password = person
    browser = Browser(app)
    browser.login(name, password)
    created = browser.post(
        "/access-tokens",
        {"name": "ci <b>x</b>", "scopes": ["registry:pull", "api:read"], "expiresInDays": "30"},
    )
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    assert_inert(created)
    secret = SECRET_SHOWN.search(created.text).group(1)
    assert LOGIN_COMMAND.search(created.text).group(1) == (
        f"docker login localhost -u {name} --password-stdin"
    )
    assert "ci &lt;b&gt;x&lt;/b&gt;" in created.text
    assert registry_status(app, name, secret) == 200
    listed = browser.get("/access-tokens")
    assert secret not in listed.text and "docker-login-command" not in listed.text
    assert "registry:pull" in listed.text and "api:read" in listed.text
    assert "expires soon" not in listed.text
    token_id = re.search(r'action="/access-tokens/(\d+)/revoke"', listed.text).group(1)
    other = browsers_of(app, "reader").post(f"/access-tokens/{token_id}/revoke")
    assert other.status_code == 404 and registry_status(app, name, secret) == 200
    revoked = browser.post(f"/access-tokens/{token_id}/revoke")
    assert revoked.status_code == 303
    assert "revoked" in browser.get("/access-tokens").text
    assert registry_status(app, name, secret) == 401


def browsers_of(app, caller):
    browser = Browser(app)
    assert browser.login(caller, PASSWORDS[caller]).status_code == 303
    return browser


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"name": "t", "expiresInDays": "30"}, 400, "A non-empty list"),
        ({"name": "t", "scopes": "root", "expiresInDays": "30"}, 400, "is not one of"),
        ({"name": "t", "scopes": "api:read", "expiresInDays": "366"}, 400, "from 1 to 365"),
        ({"name": "t", "scopes": "api:read", "expiresInDays": "0"}, 400, "from 1 to 365"),
        ({"name": "t", "scopes": "api:read", "expiresInDays": "9" * 5000}, 400, "from 1 to"),
        ({"name": "t", "scopes": "api:read", "expiresInDays": "²"}, 400, "from 1 to 365"),
        ({"name": " ", "scopes": "api:read", "expiresInDays": "30"}, 400, "Required"),
        ({"name": "dup", "scopes": "api:read", "expiresInDays": "30"}, 409, "already have"),
    ],
)
def test_a_refused_access_token_is_a_form_message(app, browsers, form, status, message):
    member = identity_in(app, "member")
    with app.app_context():
        if "dup" not in token_names(app, "member"):
            access_tokens.create_token(member, "member", "dup", ["api:read"])
    response = browsers["member"].post("/access-tokens", form)
    assert response.status_code == status and message in shown_message(response)
    assert 'id="new-secret"' not in response.text
    assert f'name="name" value="{form["name"]}"' in response.text  # kept, to correct
    assert sorted(token_names(app, "member")) == ["dup"]


def identity_in(app, name):
    with app.app_context():
        return identity(name)


def token_names(app, owner):
    with app.app_context():
        return [t.name for t in access_tokens.list_tokens(identity(owner), owner)]


def test_the_login_command_names_the_domain_an_admin_set(app, person):
    browser = Browser(app)
    browser.login(*person)
    with app.app_context():
        set_setting("domain_name", "registry.example.test")
    try:
        created = browser.post("/access-tokens", {"name": "d", "scopes": "registry:pull"})
        command = LOGIN_COMMAND.search(created.text).group(1)
        assert command == f"docker login registry.example.test -u {person[0]} --password-stdin"
    finally:
        with app.app_context():
            set_setting("domain_name", None)


def test_tokens_about_to_expire_are_marked_and_noticed_on_every_page(app, person):
    name, password = person
    browser = Browser(app)
    browser.login(name, password)
    assert "to renew" not in browser.get("/repositories").text
    browser.post("/access-tokens", {"name": "soon", "scopes": "api:read", "expiresInDays": "3"})
    for path in ["/repositories", "/organizations", "/api-docs"]:
        notice = re.search(
            r'<p class="banner notice" role="status">(.*?)</p>', browser.get(path).text
        )
        assert "Your access token to renew: soon (expires in 3 days)." in notice.group(1)
        assert 'href="/access-tokens"' in notice.group(1)
    assert "expires soon" in browser.get("/access-tokens").text
    assert "to renew" not in browsers_of(app, "reader").get("/repositories").text


def test_boosted_forms_keep_their_page_address(browsers):
    headers = {"HX-Request": "true", "HX-Boosted": "true"}
    refused = browsers["owner"].post("/organizations/acme/robots", {"name": "Bad"}, headers=headers)
    assert refused.status_code == 400 and refused.headers["HX-Push-Url"] == "false"
    shown = browsers["owner"].post(
        "/organizations/acme/robots",
        {"name": unique("boosted"), "scope": "namespace", "namespaceActions": "pull"},
        headers=headers,
    )
    assert shown.status_code == 200
    assert shown.headers["HX-Push-Url"] == "/organizations/acme?tab=robots"
    assert shown.headers["Cache-Control"] == "no-store"
    page = browsers["owner"].get("/repositories", headers=headers)
    assert "HX-Push-Url" not in page.headers


def test_the_robot_tab_shows_only_to_those_who_administer_the_organization(browsers):
    for caller in ("reader", "member", "writer"):
        page = browsers[caller].get("/organizations/acme?tab=robots").text
        assert "Robot accounts" not in page and "acme+ci" not in page
    for caller in ("owner", "admin"):
        page = browsers[caller].get("/organizations/acme?tab=robots").text
        assert "Robot accounts" in page and "acme+ci" in page
        assert "all repositories of acme: pull" in page


def test_a_robot_is_made_changed_and_deleted_through_its_pages(app, browsers):
    owner = browsers["owner"]
    name = unique("bot")
    login = f"acme+{name}"
    form = {
        "name": name,
        "description": PAYLOAD,
        "expiresInDays": "10",
        "scope": "repositories",
        "repository:public": "pull,push",
        "repository:private": "",
    }
    created = owner.post("/organizations/acme/robots", form)
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    assert_inert(created)
    secret = SECRET_SHOWN.search(created.text).group(1)
    assert LOGIN_COMMAND.search(created.text).group(1) == (
        f"docker login localhost -u {login} --password-stdin"
    )
    assert "acme/public: pull and push" in created.text
    assert "acme/private:" not in created.text
    assert registry_status(app, login, secret) == 200
    assert secret not in owner.get("/organizations/acme?tab=robots").text

    taken = owner.post("/organizations/acme/robots", form)
    assert taken.status_code == 409 and "already has a robot account" in taken.text
    assert f'value="{name}"' in taken.text  # the form keeps what was typed
    too_long = owner.post(
        "/organizations/acme/robots", {**form, "name": unique("bot"), "expiresInDays": "400"}
    )
    assert too_long.status_code == 400 and "from 1 to 365" in too_long.text

    robot_page = owner.get(f"/organizations/acme/robots/{name}")
    assert robot_page.status_code == 200 and login in robot_page.text
    assert re.search(
        r'name="repository:public"[^>]*>.*?<option value="pull,push" selected',
        robot_page.text,
        re.S,
    )
    refused = owner.post(
        f"/organizations/acme/robots/{name}", {"scope": "repositories", "repository:gone": "pull"}
    )
    assert refused.status_code == 400 and "no repository &#39;acme/gone&#39;" in refused.text
    saved = owner.post(
        f"/organizations/acme/robots/{name}",
        {"description": "now", "scope": "namespace", "namespaceActions": "pull"},
    )
    assert saved.status_code == 303
    with app.app_context():
        found = robots.get_robot(identity("owner"), "acme", name)
        assert robots.describe_access(found) == [{"namespace": "acme", "actions": ["pull"]}]
        assert found.description == "now"

    assert (
        owner.post(f"/organizations/acme/robots/{name}/state", {"enabled": "false"}).status_code
        == 303
    )
    assert registry_status(app, login, secret) == 401
    assert (
        owner.post(f"/organizations/acme/robots/{name}/state", {"enabled": "true"}).status_code
        == 303
    )
    assert registry_status(app, login, secret) == 200
    renewed = owner.post(f"/organizations/acme/robots/{name}/secret")
    new_secret = SECRET_SHOWN.search(renewed.text).group(1)
    assert new_secret != secret and renewed.headers["Cache-Control"] == "no-store"
    assert registry_status(app, login, secret) == 401
    assert registry_status(app, login, new_secret) == 200
    deleted = owner.post(f"/organizations/acme/robots/{name}/delete")
    assert (deleted.status_code, deleted.headers["Location"]) == (
        303,
        "/organizations/acme?tab=robots",
    )
    assert registry_status(app, login, new_secret) == 401
    assert owner.get(f"/organizations/acme/robots/{name}").status_code == 404


def test_credential_rules_are_saved_and_shown_in_the_password_fields(app, browsers):
    admin = browsers["admin"]
    bad = admin.post(
        "/settings/auth/credentials", {"passwordMinLength": "3", "tokenMaxLifetimeDays": "30"}
    )
    assert "A whole number from 8 to 128" in form_error(bad)
    assert 'name="passwordMinLength" value="3"' in bad.text  # what was typed, to correct
    with app.app_context():
        assert auth_settings.describe(identity("admin"))["tokenMaxLifetimeDays"] == 365
    try:
        saved = admin.post(
            "/settings/auth/credentials", {"passwordMinLength": "14", "tokenMaxLifetimeDays": "30"}
        )
        assert saved.status_code == 303
        page = admin.get("/settings/auth").text
        assert page.count('minlength="14"') >= 2  # add user and every reset field
        assert "At least 14 characters." in page
        short = admin.post(
            "/settings/auth/users", {"username": unique("short"), "password": "p" * 13}
        )
        assert "oo short (13 characters): at least 14 characters" in form_error(short)
        assert "At most 30 days" in admin.get("/access-tokens").text
    finally:
        with app.app_context():
            auth_settings.update(
                identity("admin"), {"passwordMinLength": 12, "tokenMaxLifetimeDays": 365}
            )


# --- pagination and page times ---------------------------------------------------------------


def tag_rows(html):
    return re.findall(r'<th scope="row" class="tag-name"><strong>([^<]+)</strong>', html)


def link(html, rel):
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_a_repository_with_120_tags_shows_50_per_page(app, browsers):
    full_name = f"admin/{unique('many')}"
    with app.app_context():
        repositories.create_repository(identity("admin"), full_name)
        insert_tags(full_name, [f"v{number:03d}" for number in range(120)])
    admin = browsers["admin"]
    first = admin.get(f"/repositories/{full_name}").text
    assert tag_rows(first) == [f"v{n:03d}" for n in range(50)]
    assert "Page 1 of 3 · 120 tags" in first and link(first, "prev") is None
    second = admin.get(link(first, "next")).text
    assert tag_rows(second) == [f"v{n:03d}" for n in range(50, 100)]
    third = admin.get(link(second, "next")).text
    assert tag_rows(third) == [f"v{n:03d}" for n in range(100, 120)]
    assert "Page 3 of 3" in third and link(third, "next") is None
    assert tag_rows(admin.get(link(third, "prev")).text) == tag_rows(second)
    assert "linux/amd64" in first  # the platform, read from the image config


@pytest.fixture(scope="module")
def big_app(tmp_path_factory):
    """1,000 repositories (organization big), one of them with 5,000 tags; viewer sees them
    through a team's read-only grant on the whole namespace."""
    reset_process_state()
    app = build_app(tmp_path_factory.mktemp("big") / "instance")
    with app.app_context():
        accounts.create_user("admin", "admin-password-1", "admin")
        accounts.create_user("viewer", "viewer-password-1", "none")
        admin = identity("admin")
        accounts.create_organization("big", admin)
        teams.create_team(admin, "big", "viewers")
        teams.add_member(admin, "big", "viewers", "viewer")
        grants.set_namespace_team_access(admin, "big", "viewers", "read-only")
        insert_repositories("big", 1000)
        insert_tags("big/r0000", [f"t{number:04d}" for number in range(5000)])
        assert db.session.scalar(db.select(db.func.count(Account.id))) == 3
    return app


BIG_PAGES = [
    ("admin", "/repositories", "Page 1 of 20 · 1000 repositories"),
    ("admin", "/repositories?page=20", "big/r0999"),
    ("viewer", "/repositories", "Page 1 of 20 · 1000 repositories"),
    ("viewer", "/repositories?q=number+99", "big/r0099"),
    ("admin", "/organizations/big", "Page 1 of 20 · 1000 repositories"),
    ("admin", "/repositories/big/r0000", "Page 1 of 100 · 5000 tags"),
    ("admin", "/repositories/big/r0000?page=100", "t4999"),
    ("viewer", "/repositories/big/r0000?page=50", "t2499"),
]


@pytest.mark.parametrize(("user", "path", "shown"), BIG_PAGES)
def test_pages_with_1000_repositories_and_5000_tags_cost_a_few_queries_not_one_per_row(
    big_app, user, path, shown
):
    """A page of 50 rows runs a bounded number of statements, whatever the totals (a query per
    row would run over 50). Its time is measured by bench/bench_pages.py (`make bench-pages`),
    not asserted here: a timed test fails on a slower machine, not on slower code."""
    browser = Browser(big_app)
    assert browser.login(user, f"{user}-password-1").status_code == 303
    browser.get(path)  # warm: lookup caches filled
    response, statements = statements_of(big_app, lambda: browser.get(path))
    assert response.status_code == 200
    assert shown in response.text
    assert statements <= 20, statements
