"""dtr.auth.ldap_directory against a real, private slapd (tests/support/slapd.py)."""

import dataclasses
import socket
import time

import pytest

from dtr.auth import ldap_directory
from dtr.auth.ldap_directory import (
    LdapConfigInvalid,
    LdapSettings,
    LdapUnavailable,
    LdapUser,
    authenticate,
    check_bind,
    group_members,
    list_users,
    try_login,
)
from dtr.errors import InvalidCredentials
from tests.support.server import free_port
from tests.support.slapd import BIND_DN, BIND_PASSWORD, GROUPS, PEOPLE, user_dn

ADMINS = f"cn=dtr-admins,{GROUPS}"
# ldap3 checks the server's name itself, with the deprecated ssl.match_hostname.
pytestmark = pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning")


@pytest.fixture
def settings(slapd):
    return LdapSettings(
        server_url=slapd.url,
        bind_dn=BIND_DN,
        bind_password=BIND_PASSWORD,
        user_base_dn=PEOPLE,
        user_filter="(objectClass=inetOrgPerson)",
        admin_group_dn=ADMINS,
        timeout_seconds=2,
    )


def changed(settings, **changes):
    return dataclasses.replace(settings, **changes)


def nothing_listening():
    return f"ldap://127.0.0.1:{free_port()}"


# check_bind


def test_check_bind(settings):
    check_bind(settings)


def test_check_bind_wrong_password_says_so(settings):
    with pytest.raises(LdapUnavailable) as error:
        check_bind(changed(settings, bind_password="wrong"))
    assert error.value.message == f"invalid credentials for the bind DN {BIND_DN}"


def test_check_bind_server_down(settings):
    with pytest.raises(LdapUnavailable, match="Connection refused"):
        check_bind(changed(settings, server_url=nothing_listening()))


def test_a_server_that_does_not_answer_times_out(settings):
    with socket.socket() as silent:  # connections are queued, never answered
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(LdapUnavailable, match="timed out"):
            authenticate(changed(settings, server_url=url, timeout_seconds=1), "gordon", "x")
        assert time.monotonic() - started < 3


def test_stopped_server_is_unavailable_until_restarted(slapd, settings):
    slapd.stop()
    try:
        with pytest.raises(LdapUnavailable, match="Connection refused"):
            authenticate(settings, "gordon", "gordon-password-1")
    finally:
        slapd.start()
    assert authenticate(settings, "gordon", "gordon-password-1").username == "gordon"


# authenticate


def test_authenticate_returns_the_directory_user(settings):
    assert authenticate(settings, "gordon", "gordon-password-1") == LdapUser(
        username="gordon",
        dn=user_dn("gordon"),
        email="gordon@example.org",
        full_name="Gordon the Turtle",
        is_admin=True,
    )
    assert authenticate(settings, "orca", "orca-password-1").is_admin is False


def test_username_is_the_login_attribute_lowercased(settings):
    for login in ("Ahab", "ahab", "AHAB"):
        user = authenticate(settings, login, "ahab-password-1")
        assert (user.username, user.dn) == ("ahab", user_dn("Ahab"))


def test_other_login_attribute(settings):
    user = authenticate(
        changed(settings, login_attribute="mail"), "moby@example.org", "moby-password-1"
    )
    assert user.username == "moby@example.org"


def test_no_admin_group(settings):
    assert not authenticate(
        changed(settings, admin_group_dn=None), "gordon", "gordon-password-1"
    ).is_admin
    missing = f"cn=nope,{GROUPS}"
    assert not authenticate(
        changed(settings, admin_group_dn=missing), "gordon", "gordon-password-1"
    ).is_admin


@pytest.mark.parametrize(
    "username, password",
    [
        ("gordon", "orca-password-1"),
        ("gordon", "gordon-pas"),
        ("nemo", "gordon-password-1"),
        ("gordon", "\x00"),  # refused by ldap3 before sending (SASLprep)
    ],
)
def test_wrong_password_or_unknown_user(settings, username, password):
    with pytest.raises(InvalidCredentials) as error:
        authenticate(settings, username, password)
    assert error.value.message == "incorrect username or password"


@pytest.mark.parametrize("password", ["", None])
def test_empty_password_is_refused_without_asking_the_server(settings, password):
    # Against a server that is down: nothing is sent, so nothing can accept it as an
    # unauthenticated bind.
    with pytest.raises(InvalidCredentials, match="incorrect username or password"):
        authenticate(changed(settings, server_url=nothing_listening()), "gordon", password)


def test_service_account_cannot_log_in(settings):
    with pytest.raises(InvalidCredentials):
        authenticate(changed(settings, login_attribute="cn"), "dtr-bind", BIND_PASSWORD)


@pytest.mark.parametrize(
    "username", ["*", "g*", "gordon)(uid=*", "gordon)(|(uid=*", "*)(objectClass=*", "gordon\\"]
)
def test_filter_injection_is_refused(settings, username):
    # Unescaped, "g*" or "gordon)(uid=*" would find gordon alone and log in with his password.
    with pytest.raises(InvalidCredentials):
        authenticate(settings, username, "gordon-password-1")


# TLS


def test_start_tls_with_the_ca(slapd, settings):
    tls = changed(settings, start_tls=True, ca_certificate=slapd.ca_pem)
    check_bind(tls)
    assert authenticate(tls, "gordon", "gordon-password-1").is_admin
    check_bind(changed(tls, server_url=slapd.url.replace("127.0.0.1", "localhost")))


def test_start_tls_without_the_ca_is_refused(settings):
    with pytest.raises(LdapUnavailable, match="certificate verify failed"):
        check_bind(changed(settings, start_tls=True))


def test_start_tls_to_a_name_the_certificate_does_not_have(slapd, settings):
    wrong_name = changed(
        settings, server_url=slapd.wrong_name_url, start_tls=True, ca_certificate=slapd.ca_pem
    )
    with pytest.raises(LdapUnavailable, match="doesn't match"):
        check_bind(wrong_name)
    check_bind(changed(wrong_name, tls_skip_verify=True))


def test_start_tls_skip_verify(settings):
    check_bind(changed(settings, start_tls=True, tls_skip_verify=True))


def test_ldaps(slapd, settings):
    ldaps = changed(settings, server_url=slapd.ldaps_url, ca_certificate=slapd.ca_pem)
    assert authenticate(ldaps, "moby", "moby-password-1").username == "moby"
    with pytest.raises(LdapUnavailable, match="certificate verify failed"):
        check_bind(changed(ldaps, ca_certificate=None))


# try_login


def test_try_login_ok(settings):
    result = try_login(settings, "gordon", "gordon-password-1")
    assert result["ok"] is True
    assert result["message"] == f"logged in as gordon ({user_dn('gordon')}), an administrator"
    assert result["user"]["username"] == "gordon" and result["user"]["is_admin"] is True


@pytest.mark.parametrize(
    "username, password, detail",
    [
        ("gordon", "wrong", "invalidCredentials"),
        ("nemo", "x", "no entry matches"),
        ("gordon", "", "empty username or password"),
    ],
)
def test_try_login_refused_says_why(settings, username, password, detail):
    result = try_login(settings, username, password)
    assert result["ok"] is False and result["user"] is None
    assert result["message"].startswith("incorrect username or password (")
    assert detail in result["message"]


def test_try_login_does_not_raise_for_directory_problems(settings):
    down = try_login(
        changed(settings, server_url=nothing_listening()), "gordon", "gordon-password-1"
    )
    assert down["ok"] is False and "Connection refused" in down["message"]
    bad_bind = try_login(changed(settings, bind_password="wrong"), "gordon", "gordon-password-1")
    assert bad_bind["ok"] is False and "invalid credentials for the bind DN" in bad_bind["message"]


# list_users and group_members


def test_list_users(settings):
    users = list_users(settings)
    assert [u.username for u in users] == ["ahab", "gordon", "moby", "orca"]
    assert [u.username for u in users if u.is_admin] == ["gordon"]
    assert users[0] == LdapUser("ahab", user_dn("Ahab"), "ahab@example.org", "Captain Ahab")


def test_list_users_pages(settings, monkeypatch):
    monkeypatch.setattr(ldap_directory, "PAGE_SIZE", 1)
    assert [u.username for u in list_users(settings)] == ["ahab", "gordon", "moby", "orca"]


@pytest.mark.parametrize(
    "group, members",
    [
        ("dtr-admins", {"gordon"}),
        ("frontend", {"gordon", "moby", "ahab"}),  # groupOfNames
        ("ops", {"orca", "moby"}),  # groupOfUniqueNames
        ("core-posix", {"orca"}),  # posixGroup
    ],
)
def test_group_members(settings, group, members):
    assert group_members(settings, f"cn={group},{GROUPS}") == members


def test_missing_group_or_base_is_an_error_not_empty(settings):
    with pytest.raises(LdapUnavailable, match=f"no such entry: cn=nope,{GROUPS}"):
        group_members(settings, f"cn=nope,{GROUPS}")
    wrong_base = changed(settings, user_base_dn="ou=nope,dc=example,dc=org")
    with pytest.raises(LdapUnavailable, match="no such entry: ou=nope,dc=example,dc=org"):
        list_users(wrong_base)
    with pytest.raises(LdapUnavailable, match="no such entry: ou=nope,dc=example,dc=org"):
        authenticate(wrong_base, "gordon", "gordon-password-1")


def test_user_removed_from_the_directory(slapd, settings):
    slapd.add_user("nemo", "nemo-password-1", groups=["frontend"])
    try:
        assert authenticate(settings, "nemo", "nemo-password-1").username == "nemo"
        assert "nemo" in {u.username for u in list_users(settings)}
        assert "nemo" in group_members(settings, f"cn=frontend,{GROUPS}")
    finally:
        slapd.remove_user("nemo")
    assert "nemo" not in {u.username for u in list_users(settings)}
    assert group_members(settings, f"cn=frontend,{GROUPS}") == {"gordon", "moby", "ahab"}
    with pytest.raises(InvalidCredentials):
        authenticate(settings, "nemo", "nemo-password-1")


# LdapSettings


def valid():
    return {
        "server_url": "ldap://ldap.example.org",
        "bind_dn": BIND_DN,
        "bind_password": BIND_PASSWORD,
        "user_base_dn": PEOPLE,
    }


def test_from_dict_defaults_and_round_trip():
    settings = LdapSettings.from_dict({**valid(), "admin_group_dn": "", "ca_certificate": None})
    assert settings.login_attribute == "uid" and settings.user_filter == "(objectClass=person)"
    assert settings.admin_group_dn is None and settings.start_tls is False
    assert (settings.sync_interval_minutes, settings.timeout_seconds) == (60, 5)
    assert LdapSettings.from_dict(settings.to_dict(include_secrets=True)) == settings


def test_to_dict_hides_the_bind_password(slapd):
    settings = LdapSettings.from_dict({**valid(), "ca_certificate": slapd.ca_pem})
    assert "bind_password" not in settings.to_dict()
    assert settings.to_dict()["ca_certificate"] == slapd.ca_pem
    assert settings.to_dict(include_secrets=True)["bind_password"] == BIND_PASSWORD
    assert BIND_PASSWORD not in repr(settings)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"server_url": None}, "server_url"),
        ({"server_url": "http://ldap.example.org"}, "server_url"),
        ({"server_url": "ldap://"}, "server_url"),
        ({"server_url": "ldap://host:port"}, "server_url"),
        ({"server_url": "ldaps://host", "start_tls": True}, "start_tls"),
        ({"start_tls": "yes"}, "start_tls"),
        ({"tls_skip_verify": 1}, "tls_skip_verify"),
        ({"ca_certificate": "not a certificate"}, "ca_certificate"),
        ({"bind_dn": "dtr-bind"}, "bind_dn"),
        ({"bind_password": ""}, "bind_password"),
        ({"user_base_dn": None}, "user_base_dn"),
        ({"login_attribute": "uid)(cn=*"}, "login_attribute"),
        ({"user_filter": "objectClass=person"}, "user_filter"),
        ({"user_filter": "(&(objectClass=person)"}, "user_filter"),
        ({"admin_group_dn": "admins"}, "admin_group_dn"),
        ({"sync_interval_minutes": 0}, "sync_interval_minutes"),
        ({"sync_interval_minutes": "60"}, "sync_interval_minutes"),
        ({"timeout_seconds": True}, "timeout_seconds"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_from_dict_names_the_invalid_field(changes, field):
    data = {k: v for k, v in {**valid(), **changes}.items() if v is not None}
    with pytest.raises(LdapConfigInvalid) as error:
        LdapSettings.from_dict(data)
    assert error.value.message.startswith(f"{field}: ")
