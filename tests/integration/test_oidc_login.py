"""Single sign-on with OpenID Connect against a provider that lies: DTR (under its production
server) as the relying party of `HostileOidcProvider`, a real HTTP provider that hands out
wrong, expired, tampered and forged ID tokens. Every bad answer is refused with a message,
creates no account and starts no session; the good ones create and update the account, its
role and its provider teams. The happy paths against a certified provider (oidc-provider) in
a browser are in tests/e2e/test_oidc_sso.py."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.hostile_oidc_provider import HostileOidcProvider
from tests.support.server import DTRProcess

ADMIN = ("admin", "admin-password-1")


@pytest.fixture(scope="module")
def idp():
    with HostileOidcProvider() as provider:
        yield provider


@pytest.fixture(scope="module")
def server(tmp_path_factory, idp):
    dtr = DTRProcess(tmp_path_factory.mktemp("oidc-dtr") / "instance")
    dtr.create_users(
        {"admin": ("admin-password-1", "admin"), "local": ("local-password-1", "read-write")}
    )
    dtr.start()
    response = api(dtr, "PUT", "/admin/settings/auth", json={"mode": "oidc", "oidc": settings(idp)})
    assert response.status_code == 200, response.text
    yield dtr
    dtr.stop()


@pytest.fixture(autouse=True)
def fresh_provider(idp):
    idp.reset()
    yield
    idp.reset()


def settings(idp, **changes):
    values = {
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "display_name": "Hostile IdP",
        "admin_group": "dtr-admins",
        "timeout_seconds": 3,
    }
    values.update(changes)
    return values


def api(server, method, path, auth=ADMIN, **kwargs):
    return requests.request(method, f"{server.url}/api/v0{path}", auth=auth, **kwargs)


def sign_in(server, session=None):
    """Start a sign-in at DTR, let the provider answer, bring its answer back to DTR: the
    session and DTR's answer to the callback."""
    session = session or requests.Session()
    started = session.get(f"{server.url}/login/oidc", allow_redirects=False)
    assert started.status_code == 303, started.text[:500]
    answered = session.get(started.headers["Location"], allow_redirects=False)
    assert answered.status_code == 302, answered.text[:300]
    callback = answered.headers["Location"]
    return session, session.get(callback, allow_redirects=False), callback


def signed_in_as(server, session):
    """The account name of the portal session, or None."""
    page = session.get(f"{server.url}/account", allow_redirects=False)
    if page.status_code != 200:
        return None
    return page.text.split("<dt>User</dt><dd>")[1].split("</dd>")[0]


def account(server, name):
    response = api(server, "GET", f"/accounts/{name}")
    return response.json() if response.status_code == 200 else None


def refused(server, answer, session, *words):
    assert answer.status_code == 401, answer.text[:500]
    assert "Single sign-on failed" in answer.text
    for word in words:
        assert word in answer.text, answer.text[:2000]
    assert signed_in_as(server, session) is None


def test_sign_in_creates_the_account_then_follows_the_admin_group(server, idp):
    idp.user = {**idp.user, "sub": "sub-ada", "preferred_username": "Ada", "groups": ["devs"]}
    session, answer, _ = sign_in(server)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/repositories")
    assert signed_in_as(server, session) == "ada"
    created = account(server, "ada")
    assert created["isOidc"] is True and created["role"] == "none"
    # what DTR asked: the code flow with PKCE S256, a nonce and the scopes
    asked = idp.last_authorize_params
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) >= 43
    assert asked["nonce"] and asked["scope"].split()[0] == "openid"
    # in the admin group: an admin at the next sign-in; out of it: back to the default role
    idp.user = {**idp.user, "groups": ["devs", "dtr-admins"]}
    session, answer, _ = sign_in(server)
    assert answer.status_code == 303 and account(server, "ada")["role"] == "admin"
    idp.user = {**idp.user, "groups": ["devs"]}
    sign_in(server)
    assert account(server, "ada")["role"] == "none"
    # the account has no password: password logins and password changes are refused
    assert requests.get(f"{server.url}/auth/token", auth=("ada", "")).status_code == 401
    change = api(
        server, "POST", "/accounts/ada/changePassword", json={"newPassword": "a-new-password-1"}
    )
    assert change.status_code == 400 and "identity provider" in change.text
    # a deactivated account does not sign in, whatever the provider says
    assert api(server, "PUT", "/accounts/ada/deactivate").ok
    session, answer, _ = sign_in(server)
    refused(server, answer, session, "deactivated")
    assert api(server, "PUT", "/accounts/ada/activate").ok
    assert sign_in(server)[1].status_code == 303


@pytest.mark.parametrize(
    "change, words",
    [
        ({"claims": {"aud": "another-client"}}, ["aud"]),
        ({"claims": {"iss": "http://evil.example"}}, ["iss"]),
        ({"claims": {"exp": int(time.time()) - 600}}, ["expired"]),
        ({"claims": {"iat": int(time.time()) + 3600}}, ["future"]),
        ({"claims": {"nonce": "another-nonce"}}, ["nonce"]),
        ({"claims": {"sub": None}}, ["sub"]),
        ({"claims": {"aud": ["dtr", "other"], "azp": "other"}}, ["azp"]),
        ({"signing": "tampered"}, ["signature"]),
        ({"signing": "none"}, ["signature"]),
        ({"signing": "hs256-public-key"}, ["signature"]),
        ({"signing": "unknown-key"}, ["signature"]),
        ({"userinfo": {"sub": "someone-else", "groups": ["dtr-admins"]}}, ["another subject"]),
    ],
    ids=lambda value: str(value)[:40],
)
def test_bad_id_tokens_are_refused_and_change_nothing(server, idp, change, words):
    idp.user = {**idp.user, "sub": "sub-mallory", "preferred_username": "mallory"}
    for name, value in change.items():
        setattr(idp, name, value)
    session, answer, _ = sign_in(server)
    refused(server, answer, session, *words)
    assert account(server, "mallory") is None
    events = api(server, "GET", "/admin/audit?limit=5").json()["events"]
    assert any(e["action"] == "login.failed" and "oidc" in str(e) for e in events)


def test_clock_skew_is_tolerated_within_the_setting(server, idp):
    idp.user = {**idp.user, "sub": "sub-skew", "preferred_username": "skew"}
    idp.claims = {"exp": int(time.time()) - 20, "iat": int(time.time()) - 320}
    session, answer, _ = sign_in(server)
    assert answer.status_code == 303 and signed_in_as(server, session) == "skew"
    idp.claims = {"iat": int(time.time()) + 30}  # the provider's clock is 30 s ahead
    assert sign_in(server)[1].status_code == 303


def test_forged_replayed_and_unsolicited_answers_are_refused(server, idp):
    idp.user = {**idp.user, "sub": "sub-forge", "preferred_username": "forge"}
    idp.state_override = "a-state-of-the-attackers-choice"
    session, answer, _ = sign_in(server)
    refused(server, answer, session, "state")
    idp.state_override = None
    # a good answer works once; the same callback again (a replay) is refused
    session, answer, callback = sign_in(server)
    assert answer.status_code == 303
    replay = requests.Session()
    refused(server, replay.get(callback, allow_redirects=False), replay, "not started here")
    # an answer this browser never asked for (login CSRF) is refused
    stranger = requests.Session()
    answer = stranger.get(f"{server.url}/login/oidc/callback?code=x&state=y")
    refused(server, answer, stranger, "not started here")
    # the provider's own error comes through as a message
    session = requests.Session()
    session.get(f"{server.url}/login/oidc", allow_redirects=False)
    answer = session.get(
        f"{server.url}/login/oidc/callback?error=access_denied&error_description=you+said+no"
    )
    refused(server, answer, session, "you said no")


def test_rotated_keys_are_fetched_once(server, idp):
    idp.user = {**idp.user, "sub": "sub-rot", "preferred_username": "rot"}
    assert sign_in(server)[1].status_code == 303
    before = idp.jwks_fetches
    idp.rotate_key()  # the provider now publishes only a new key
    time.sleep(1.1)  # DTR fetches keys again at most once a second
    assert sign_in(server)[1].status_code == 303
    assert sign_in(server)[1].status_code == 303
    assert idp.jwks_fetches == before + 1


def test_a_name_taken_by_a_local_account_is_not_taken_over(server, idp):
    idp.user = {**idp.user, "sub": "sub-fake-admin", "preferred_username": "admin"}
    idp.claims = {"groups": ["dtr-admins"]}
    session, answer, _ = sign_in(server)
    refused(server, answer, session, "belongs to another account")
    assert account(server, "admin")["isOidc"] is False
    idp.user = {**idp.user, "preferred_username": "Not A Name!"}
    session, answer, _ = sign_in(server)
    refused(server, answer, session, "cannot be a DTR account name")


def test_groups_bind_teams_and_filters_keep_people_out(server, idp):
    assert api(server, "POST", "/accounts", json={"name": "acme", "type": "organization"}).ok
    made = api(server, "POST", "/accounts/acme/teams", json={"name": "devs", "oidcGroup": "devs"})
    assert made.status_code == 201 and made.json()["type"] == "oidc"
    both = api(
        server,
        "POST",
        "/accounts/acme/teams",
        json={"name": "both", "oidcGroup": "x", "ldapGroupDN": "cn=x,dc=example,dc=org"},
    )
    assert both.status_code == 400
    idp.user = {**idp.user, "sub": "sub-grace", "preferred_username": "grace", "groups": ["devs"]}
    assert sign_in(server)[1].status_code == 303
    members = api(server, "GET", "/accounts/acme/teams/devs/members").json()["members"]
    assert [m["name"] for m in members] == ["grace"]
    hand = api(server, "PUT", "/accounts/acme/teams/devs/members/local")
    assert hand.status_code == 400 and "identity provider" in hand.text
    idp.user = {**idp.user, "groups": ["ops"]}
    assert sign_in(server)[1].status_code == 303
    assert api(server, "GET", "/accounts/acme/teams/devs/members").json()["members"] == []
    # only some groups, then only some domains, may sign in
    only = settings(idp, allowed_groups=["devs"], allowed_domains=["example.org"])
    del only["client_secret"]  # kept
    assert api(server, "PUT", "/admin/settings/auth", json={"oidc": only}).status_code == 200
    try:
        session, answer, _ = sign_in(server)
        refused(server, answer, session, "none of the groups")
        idp.user = {**idp.user, "groups": ["devs"], "email": "grace@elsewhere.test"}
        session, answer, _ = sign_in(server)
        refused(server, answer, session, "domain")
        idp.user = {**idp.user, "email": "grace@example.org"}
        assert sign_in(server)[1].status_code == 303
    finally:
        restore = {"oidc": settings(idp, allowed_groups=[], allowed_domains=[])}
        assert api(server, "PUT", "/admin/settings/auth", json=restore).status_code == 200


def test_provider_down_says_so_and_local_admins_still_log_in(server, idp):
    idp.down = True
    time.sleep(2.1)  # a sign-in checks that the provider answers at most every 2 s
    session = requests.Session()
    down = session.get(f"{server.url}/login/oidc", allow_redirects=False)
    assert down.status_code == 503
    assert "cannot be reached" in down.text and "Local administrators" in down.text
    # break-glass: the local admin's password still works, on the portal and for docker
    page = session.get(f"{server.url}/login").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    login = session.post(
        f"{server.url}/login",
        data={"username": "admin", "password": ADMIN[1], "csrf_token": token},
        allow_redirects=False,
    )
    assert login.status_code == 303 and signed_in_as(server, session) == "admin"
    assert requests.get(f"{server.url}/auth/token", auth=ADMIN).status_code == 200
    # a local user who is not an admin does not log in with a password in OIDC mode
    assert (
        requests.get(f"{server.url}/auth/token", auth=("local", "local-password-1")).status_code
        == 401
    )


def test_logout_offers_the_providers_logout(server, idp):
    idp.user = {**idp.user, "sub": "sub-out", "preferred_username": "out"}
    session, answer, _ = sign_in(server)
    page = session.get(f"{server.url}/account").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    out = session.post(f"{server.url}/logout", data={"csrf_token": token})
    assert out.status_code == 200 and "You are logged out of DTR" in out.text
    link = out.text.split('id="provider-logout"')[0].rsplit('href="', 1)[1].split('"')[0]
    link = link.replace("&amp;", "&")
    assert link.startswith(f"{idp.issuer}/logout?")
    query = parse_qs(urlsplit(link).query)
    assert query["client_id"] == [idp.client_id]
    assert query["post_logout_redirect_uri"] == [f"{server.url}/login"]
    assert signed_in_as(server, session) is None


HOSTILE_SETTINGS = [
    {"oidc": "not an object"},
    {"oidc": {"issuer": "http://provider.example.com", "client_id": "x", "client_secret": "y"}},
    {"oidc": {"issuer": "ftp://127.0.0.1/", "client_id": "x", "client_secret": "y"}},
    {"oidc": {"issuer": 5, "client_id": "x", "client_secret": "y"}},
    {"oidc": {"issuer": None, "client_id": "x"}},
    {"oidc": {"client_secret": None, "client_id": "another-client"}},  # secret not kept
    {"oidc": {"unknown": 1}},
    {"oidc": {"scopes": "profile email"}},
    {"oidc": {"scopes": ["openid"]}},
    {"oidc": {"username_claim": "a b"}},
    {"oidc": {"admin_group": ["x"]}},
    {"oidc": {"allowed_groups": "devs"}},
    {"oidc": {"allowed_groups": [1, 2]}},
    {"oidc": {"allowed_groups": ["g"] * 101}},
    {"oidc": {"allowed_domains": ["Example.COM"]}},
    {"oidc": {"default_role": "admin"}},
    {"oidc": {"clock_skew_seconds": 100000}},
    {"oidc": {"clock_skew_seconds": True}},
    {"oidc": {"clock_skew_seconds": "60"}},
    {"oidc": {"client_id": "x\u0000y"}},
    {"oidc": {"client_id": "x" * 5000}},
    {"oidc": {"display_name": {"a": {"b": {"c": [[[[]]]]}}}}},
]


@pytest.mark.parametrize("body", HOSTILE_SETTINGS, ids=lambda b: str(b)[:50])
def test_hostile_settings_are_refused_and_change_nothing(server, idp, body):
    before = api(server, "GET", "/admin/settings/auth").json()
    if isinstance(body["oidc"], dict) and "issuer" not in body["oidc"]:
        body = {"oidc": {**settings(idp), **body["oidc"]}}
    answer = api(server, "PUT", "/admin/settings/auth", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["message"]
    assert api(server, "GET", "/admin/settings/auth").json() == before


def test_settings_are_saved_only_when_the_provider_answers(server, idp):
    described = api(server, "GET", "/admin/settings/auth").json()
    assert described["mode"] == "oidc" and "client_secret" not in described["oidc"]
    assert idp.client_secret not in api(server, "GET", "/admin/settings/auth").text
    unreachable = settings(idp, issuer="http://127.0.0.1:9")
    answer = api(server, "PUT", "/admin/settings/auth", json={"oidc": unreachable})
    assert answer.status_code == 400 and "cannot be reached" in answer.text
    mismatched = settings(idp, issuer=idp.issuer + "/")
    answer = api(server, "PUT", "/admin/settings/auth", json={"oidc": mismatched})
    assert answer.status_code == 400 and "names the issuer" in answer.text
    assert api(server, "GET", "/admin/settings/auth").json() == described
    # Test: the outcome in the body, nothing saved
    tested = api(server, "POST", "/admin/settings/auth/oidc/test", json={})
    assert tested.status_code == 200 and tested.json()["ok"] is True
    assert tested.json()["keys"] == 1
    tested = api(server, "POST", "/admin/settings/auth/oidc/test", json={"oidc": unreachable})
    assert tested.json()["ok"] is False and "cannot be reached" in tested.json()["message"]
    # admins only; a read-only access token of an admin cannot change them
    assert api(server, "POST", "/admin/settings/auth/oidc/test", auth=None).status_code == 401
    made = api(
        server, "POST", "/accounts/admin/tokens", json={"name": "ro", "scopes": ["api:read"]}
    )
    assert made.status_code == 201, made.text
    narrowed = ("admin", made.json()["token"])
    answer = api(server, "PUT", "/admin/settings/auth", auth=narrowed, json={"mode": "managed"})
    assert answer.status_code == 403


def test_switching_modes_keeps_every_account(server, idp):
    idp.user = {**idp.user, "sub": "sub-keep", "preferred_username": "keep"}
    assert sign_in(server)[1].status_code == 303
    local = ("local", "local-password-1")
    assert requests.get(f"{server.url}/auth/token", auth=local).status_code == 401
    managed = api(server, "PUT", "/admin/settings/auth", json={"mode": "managed"})
    assert managed.status_code == 200
    try:
        # the local user logs in again; the provider's account is still there, marked
        assert requests.get(f"{server.url}/auth/token", auth=local).status_code == 200
        assert account(server, "keep")["isOidc"] is True
        refused = requests.Session().get(f"{server.url}/login/oidc", allow_redirects=False)
        assert refused.status_code == 400 and "not enabled" in refused.text
    finally:
        back = api(server, "PUT", "/admin/settings/auth", json={"mode": "oidc"})
        assert back.status_code == 200
    assert sign_in(server)[1].status_code == 303
    assert account(server, "keep")["isOidc"] is True
