"""Two DTR processes with instance folders of their own sharing one database (a SQLite file;
a PostgreSQL database) share its keys (dtr/services/instance_keys.py): a registry token, a
session cookie or an access token made by one is good on the other, both serve the same
certificate, and a token key rotation is seen by both. An instance made before the keys
moved to the database keeps its own."""

import base64
import hashlib
import ssl
import time

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.postgres import Postgres
from tests.support.server import USERS, DTRProcess

ADMIN = ("admin", USERS["admin"][0])


@pytest.fixture(scope="module")
def postgres():
    server = Postgres().start()
    yield server
    server.stop()


def database_url(kind, folder, request):
    if kind == "sqlite":
        return f"sqlite:///{folder / 'shared.db'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(request, tmp_path_factory):
    """Two replicas over HTTPS (each with the certificate files of its own folder)."""
    folder = tmp_path_factory.mktemp(f"keys-{request.param}")
    url = database_url(request.param, folder, request)
    one = DTRProcess(folder / "one", http=False, database_url=url)
    other = DTRProcess(folder / "other", http=False, database_url=url)
    one.create_users()
    one.start()
    other.start()
    yield one, other
    one.stop()
    other.stop()


def get(server, path, **kwargs):
    return requests.get(f"{server.url}{path}", verify=False, timeout=30, **kwargs)


def registry_token(server, auth=ADMIN):
    response = get(server, "/auth/token", params={"service": "x"}, auth=auth)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def accepted(server, token) -> bool:
    response = get(server, "/v2/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def kid_of(token):
    return jwt.get_unverified_header(token)["kid"]


def served_certificate(server) -> bytes:
    """The DER bytes of the certificate the server presents."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        with context.wrap_socket(sock) as tls:
            return tls.getpeercert(binary_form=True)


def web_session(server, user, password) -> str:
    """Log in through the portal's form; the session cookie's value."""
    session = requests.Session()
    page = session.get(f"{server.url}/login", verify=False).text
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = session.post(
        f"{server.url}/login",
        data={"username": user, "password": password, "csrf_token": csrf},
        allow_redirects=False,
        verify=False,
    )
    assert response.status_code == 303, response.text
    return session.cookies["dtr_session"]


def test_a_registry_token_of_one_is_accepted_by_the_other(pair):
    one, other = pair
    for issuer, verifier in ((one, other), (other, one)):
        token = registry_token(issuer)
        assert accepted(verifier, token)
        assert kid_of(token) == kid_of(registry_token(verifier))
    # a refresh token (docker login's identity token) too
    form = {"grant_type": "password", "username": "admin", "password": ADMIN[1]}
    form.update(service="x", access_type="offline", client_id="test")
    refresh = requests.post(f"{one.url}/auth/token", data=form, verify=False).json()
    exchanged = requests.post(
        f"{other.url}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh["refresh_token"]}
        | {"service": "x", "client_id": "test"},
        verify=False,
    )
    assert exchanged.status_code == 200, exchanged.text


def test_a_session_cookie_of_one_works_on_the_other(pair):
    one, other = pair
    cookie = web_session(one, *ADMIN)
    anonymous = get(other, "/api/v0/accounts")
    assert anonymous.status_code == 401
    signed_in = get(other, "/api/v0/accounts", cookies={"dtr_session": cookie})
    assert signed_in.status_code == 200, signed_in.text
    assert "admin" in {account["name"] for account in signed_in.json()["accounts"]}


def test_an_access_token_made_on_one_logs_in_on_the_other(pair):
    one, other = pair
    body = {"name": "shared-keys", "scopes": ["registry:pull", "api:read"]}
    created = requests.post(
        f"{one.url}/api/v0/accounts/admin/tokens", json=body, auth=ADMIN, verify=False
    )
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    assert get(other, "/v2/", auth=("admin", secret)).status_code == 200


def test_rotated_token_key_signs_new_tokens_and_old_ones_still_verify(pair):
    one, other = pair
    old = registry_token(one)
    result = one.cli("rotate-token-key")
    assert result.returncode == 0, result.stderr
    new_kid = result.stdout.split("kid ")[1].split()[0]
    assert new_kid != kid_of(old)
    assert accepted(one, old) and accepted(other, old)
    # each signs with the new key within seconds (keys are re-read every few seconds)
    deadline = time.monotonic() + 20
    kids = set()
    while time.monotonic() < deadline:
        tokens = {server.port: registry_token(server) for server in pair}
        kids = {kid_of(token) for token in tokens.values()}
        if kids == {new_kid}:
            break
        time.sleep(0.5)
    assert kids == {new_kid}
    for token in tokens.values():  # each verifies the other's new token, and the old one
        assert accepted(one, token) and accepted(other, token)
    assert accepted(one, old) and accepted(other, old)
    # a token made with the new key by the other is verified at once (an unknown kid is
    # looked up again), even before the process would re-read the keys on its own
    assert one.cli("rotate-token-key").returncode == 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        newest = registry_token(other)
        if kid_of(newest) not in kids:
            break
        time.sleep(0.2)
    assert accepted(one, newest) and accepted(other, old)


def test_both_serve_one_certificate_and_follow_a_change(pair):
    one, other = pair
    first = served_certificate(one)
    assert served_certificate(other) == first
    assert get(one, "/ca.crt").content == get(other, "/ca.crt").content
    # a new domain name through one: a new certificate, which the other serves within seconds
    changed = requests.put(
        f"{one.url}/api/v0/admin/settings/general",
        json={"domainName": "registry.shared.test"},
        auth=ADMIN,
        verify=False,
    )
    assert changed.status_code == 200, changed.text
    now = served_certificate(one)
    assert now != first
    names = x509.load_der_x509_certificate(now).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "registry.shared.test" in names.value.get_values_for_type(x509.DNSName)
    deadline = time.monotonic() + 20
    while served_certificate(other) != now and time.monotonic() < deadline:
        time.sleep(0.3)
    assert served_certificate(other) == now
    deadline = time.monotonic() + 10
    while get(other, "/ca.crt").content != get(one, "/ca.crt").content:
        assert time.monotonic() < deadline
        time.sleep(0.3)


# --- an instance made before the keys moved to the database -------------------------------


def libtrust_kid(public_key):
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(text[i : i + 4] for i in range(0, 48, 4))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_instance_made_before_keeps_its_keys(kind, tmp_path, request):
    # SQLite: the instance's own database file, as a single DTR has it
    url = None if kind == "sqlite" else database_url(kind, tmp_path, request)
    server = DTRProcess(tmp_path / "instance", http=False, database_url=url)
    server.create_users({"admin": USERS["admin"]})
    # what an older DTR left: its keys as files in the instance folder, none in the database
    server.sql("DELETE FROM instance_keys")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (server.instance / "token_key.pem").write_bytes(pem)
    (server.instance / "secret_key").write_text("an-older-secret-" + "0" * 48 + "\n")
    certs = server.instance / "certs"
    from dtr.tls import new_certificate

    old = new_certificate(["old.example.test", "localhost", "127.0.0.1"])
    certs.mkdir(exist_ok=True)
    (certs / "dtr.crt").write_text(old.certificate)
    (certs / "dtr.key").write_text(old.key)
    server.start()
    try:
        issued = registry_token(server)
        assert kid_of(issued) == libtrust_kid(key.public_key())
        claims = jwt.decode(issued, options={"verify_signature": False}) | {"jti": "again"}
        # signed by the old file's key, without a kid (as a token of an older DTR might be)
        assert accepted(server, jwt.encode(claims, key, algorithm="ES256"))
        secret = server.sql("SELECT value FROM instance_keys WHERE name = 'secret_key'")
        assert secret == [("an-older-secret-" + "0" * 48,)]
        served = x509.load_der_x509_certificate(served_certificate(server))
        assert served == x509.load_pem_x509_certificate(old.certificate.encode())
        assert web_session(server, *ADMIN)
    finally:
        server.stop()
