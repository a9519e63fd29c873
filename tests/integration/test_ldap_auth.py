"""Auth mode LDAP end to end: settings through the API, login through LDAP (registry and
API), break-glass local admin, sync of accounts and LDAP teams, against a real slapd."""

import pytest
import requests

from tests.support.server import DTRProcess
from tests.support.slapd import BIND_DN, BIND_PASSWORD, GROUPS, PEOPLE, USERS

pytestmark = pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning")
ADMIN = ("admin", "admin-password-1")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    dtr = DTRProcess(tmp_path_factory.mktemp("ldap-dtr") / "instance")
    dtr.create_users(
        {"admin": ("admin-password-1", "admin"), "local": ("local-password-1", "read-write")}
    )
    dtr.start()
    yield dtr
    dtr.stop()


def ldap_settings(slapd, **changes):
    settings = {
        "server_url": slapd.url,
        "bind_dn": BIND_DN,
        "bind_password": BIND_PASSWORD,
        "user_base_dn": PEOPLE,
        "user_filter": "(objectClass=inetOrgPerson)",
        "admin_group_dn": f"cn=dtr-admins,{GROUPS}",
        "timeout_seconds": 2,
    }
    settings.update(changes)
    return settings


def api(server, method, path, auth=ADMIN, **kwargs):
    return requests.request(method, f"{server.url}/api/v0{path}", auth=auth, **kwargs)


def token_status(server, name, password):
    return requests.get(f"{server.url}/auth/token", auth=(name, password)).status_code


def ldap_password(name):
    return USERS[name][0]


def test_ldap_mode_end_to_end(server, slapd):
    # a configuration that cannot bind is refused with the server's message; nothing changes
    bad = api(
        server,
        "PUT",
        "/admin/settings/auth",
        json={"mode": "ldap", "ldap": ldap_settings(slapd, bind_password="wrong")},
    )
    assert bad.status_code == 400
    assert "invalid" in bad.json()["errors"][0]["message"].lower()
    assert api(server, "GET", "/admin/settings/auth").json()["mode"] == "managed"
    invalid = api(
        server,
        "PUT",
        "/admin/settings/auth",
        json={"mode": "ldap", "ldap": ldap_settings(slapd, server_url="http://x")},
    )
    assert invalid.status_code == 400 and "server_url" in invalid.json()["errors"][0]["message"]
    # try login before saving
    tried = api(
        server,
        "POST",
        "/admin/settings/auth/ldap/tryLogin",
        json={"ldap": ldap_settings(slapd), "username": "orca", "password": ldap_password("orca")},
    )
    assert tried.status_code == 200 and tried.json()["ok"] is True
    wrong = api(
        server,
        "POST",
        "/admin/settings/auth/ldap/tryLogin",
        json={"ldap": ldap_settings(slapd), "username": "orca", "password": "nope"},
    )
    assert wrong.json()["ok"] is False
    assert (
        api(
            server,
            "POST",
            "/admin/settings/auth/ldap/tryLogin",
            auth=("local", "local-password-1"),
            json={"username": "orca", "password": "x"},
        ).status_code
        == 403
    )
    saved = api(
        server, "PUT", "/admin/settings/auth", json={"mode": "ldap", "ldap": ldap_settings(slapd)}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["mode"] == "ldap" and "bind_password" not in saved.json()["ldap"]

    # LDAP users log in; their account is created; the admin group makes admins
    assert token_status(server, "orca", ldap_password("orca")) == 200
    assert token_status(server, "orca", "wrong") == 401
    orca = api(server, "GET", "/accounts/orca").json()
    assert orca["isLdap"] is True and orca["role"] == "none"
    gordon = api(server, "GET", "/accounts/gordon", auth=("gordon", ldap_password("gordon")))
    assert gordon.status_code == 200 and gordon.json()["role"] == "admin"
    # local accounts: the admin is break-glass, other local users no longer log in
    assert token_status(server, "admin", "admin-password-1") == 200
    assert token_status(server, "local", "local-password-1") == 401

    # LDAP down: LDAP logins fail, the local admin still works
    slapd.stop()
    try:
        assert token_status(server, "moby", ldap_password("moby")) == 401
        assert api(server, "GET", "/admin/settings/auth").status_code == 200
    finally:
        slapd.start()

    # sync: creates everyone, deactivates who left LDAP, fills LDAP teams from their group
    assert api(server, "POST", "/accounts", json={"type": "organization", "name": "eng"}).ok
    team = api(
        server,
        "POST",
        "/accounts/eng/teams",
        json={"name": "frontend", "ldapGroupDN": f"cn=frontend,{GROUPS}"},
    )
    assert team.status_code == 201
    synced = api(server, "POST", "/admin/settings/auth/ldap/sync")
    assert synced.status_code == 200, synced.text
    names = {a["name"] for a in api(server, "GET", "/accounts").json()["accounts"]}
    assert {"gordon", "orca", "moby", "ahab"} <= names
    members = api(server, "GET", "/accounts/eng/teams/frontend/members").json()["members"]
    assert {m["name"] for m in members} == {"gordon", "moby", "ahab"}
    refused = api(server, "PUT", "/accounts/eng/teams/frontend/members/orca")
    assert refused.status_code == 400  # LDAP teams take their members from LDAP
    slapd.remove_user("moby")
    try:
        assert api(server, "POST", "/admin/settings/auth/ldap/sync").json()["deactivated"] == 1
        moby = api(server, "GET", "/accounts/moby").json()
        assert moby["isActive"] is False  # deactivated, not deleted
        assert token_status(server, "moby", ldap_password("moby")) == 401
        members = api(server, "GET", "/accounts/eng/teams/frontend/members").json()["members"]
        assert {m["name"] for m in members} == {"gordon", "ahab"}
    finally:
        slapd.add_user("moby", ldap_password("moby"), groups=["frontend"])
    # back to managed mode so local users log in again
    assert api(server, "PUT", "/admin/settings/auth", json={"mode": "managed"}).ok
    assert token_status(server, "local", "local-password-1") == 200
