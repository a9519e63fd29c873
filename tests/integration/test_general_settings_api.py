"""Settings > General through /api/v0: domain name (and its certificate), create-on-push,
token lifetime; all applied by the running server without a restart."""

import pytest
import requests
from cryptography import x509

from tests.support.server import USERS, DTRProcess

URL = "/api/v0/admin/settings/general"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Its own DTR over HTTPS: these tests change the domain name and the certificate."""
    process = DTRProcess(tmp_path_factory.mktemp("general") / "instance", http=False)
    process.create_users()
    process.start()
    yield process
    process.stop()


def call(server, method, user="admin", **kwargs):
    auth = (user, USERS[user][0]) if user else None
    return requests.request(method, server.url + URL, auth=auth, verify=False, **kwargs)


def served_names(server):
    import ssl

    pem = ssl.get_server_certificate(("127.0.0.1", server.port))
    certificate = x509.load_pem_x509_certificate(pem.encode())
    extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return extension.value.get_values_for_type(x509.DNSName)


def test_admins_read_and_change_them_live(server):
    before = call(server, "GET").json()
    assert set(before) == {"domainName", "createOnPush", "tokenLifetimeSeconds"}
    assert before["tokenLifetimeSeconds"] == 900
    changed = call(
        server,
        "PUT",
        json={"domainName": "Registry.Example.TEST", "tokenLifetimeSeconds": 120},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["domainName"] == "registry.example.test"
    assert "registry.example.test" in served_names(server)  # the new certificate, no restart
    token = requests.get(
        f"{server.url}/auth/token",
        params={"service": "registry.example.test"},
        auth=("admin", USERS["admin"][0]),
        verify=False,
    ).json()
    assert token["expires_in"] == 120
    assert call(server, "GET").json()["tokenLifetimeSeconds"] == 120


def test_a_name_with_a_port_names_the_service_and_null_removes_it(server):
    changed = call(server, "PUT", json={"domainName": "Registry.Example.TEST:8443"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["domainName"] == "registry.example.test:8443"
    assert "registry.example.test" in served_names(server)  # the host, not the port
    challenge = requests.get(f"{server.url}/v2/", verify=False).headers["WWW-Authenticate"]
    assert f'realm="{server.url}/auth/token",service="registry.example.test:8443"' in challenge
    token = requests.get(
        f"{server.url}/auth/token",
        params={"service": "registry.example.test:8443", "scope": "registry:catalog:*"},
        auth=("admin", USERS["admin"][0]),
        verify=False,
    ).json()["token"]
    catalog = requests.get(
        f"{server.url}/v2/_catalog", headers={"Authorization": f"Bearer {token}"}, verify=False
    )
    assert catalog.status_code == 200, catalog.text  # the audience is the name with its port
    cleared = call(server, "PUT", json={"domainName": None})
    assert cleared.status_code == 200 and cleared.json()["domainName"] is None
    assert "registry.example.test" in served_names(server)  # the certificate stays


@pytest.mark.parametrize(
    "body, field",
    [
        ({"domainName": "bad_name!"}, "domainName"),
        ({"domainName": ""}, "domainName"),
        ({"domainName": "registry.example.test:70000"}, "domainName"),
        ({"domainName": "https://registry.example.test"}, "domainName"),
        ({"domainName": "-x.example"}, "domainName"),
        ({"domainName": 42}, "domainName"),
        ({"tokenLifetimeSeconds": 5}, "tokenLifetimeSeconds"),
        ({"tokenLifetimeSeconds": "900"}, "tokenLifetimeSeconds"),
        ({"createOnPush": "yes"}, "createOnPush"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_values_are_refused_and_nothing_changes(server, body, field):
    before = call(server, "GET").json()
    mixed = {"createOnPush": not before["createOnPush"], **body}  # a valid change beside it
    response = call(server, "PUT", json=mixed)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "INVALID_INPUT" and field in error["message"]
    assert call(server, "GET").json() == before


def test_only_admins(server):
    assert call(server, "GET", user=None).status_code == 401
    assert call(server, "PUT", user=None, json={"createOnPush": True}).status_code == 401
    for user in ("writer", "reader", "nobody"):
        assert call(server, "GET", user=user).status_code == 403
        assert call(server, "PUT", user=user, json={"createOnPush": True}).status_code == 403
    assert call(server, "PUT", data="not json").status_code == 400
