"""One registry address on every page (Flask's test client): the domain name an admin set
(`host:port` accepted; the certificate names the host), else the address the browser used,
where X-Forwarded-* count only from TRUSTED_PROXIES (token realm, audit, throttle). nginx and
docker in front of a real server: tests/e2e/test_reverse_proxy.py."""

import base64
import html
import re

import pytest
from cryptography import x509

from dtr.services import audit, repositories
from dtr.services.settings import get_setting, set_setting
from dtr.tls import certificate_paths, host_of
from tests.integration.web_support import Browser, build_app, identity, reset_process_state

PASSWORD = "admin-password-1"
REALM = re.compile(r'realm="([^"]+)",service="([^"]+)"')


def _app(tmp_path_factory, overrides=None):
    reset_process_state()
    app = build_app(tmp_path_factory.mktemp("address") / "instance", overrides)
    with app.app_context():
        from dtr.services import accounts

        accounts.create_user("admin", PASSWORD, "admin")
        repositories.create_repository(identity("admin"), "admin/addr")
    return app


@pytest.fixture(autouse=True)
def _fresh_process_state():
    reset_process_state()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return _app(tmp_path_factory)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """An application behind the proxy 10.0.0.5."""
    return _app(tmp_path_factory, {"TRUSTED_PROXIES": "10.0.0.5"})


def admin_browser(app):
    browser = Browser(app)
    assert browser.login("admin", PASSWORD).status_code == 303
    return browser


def page_text(browser, path, host):
    """The text of a page as the browser sees it at `host` (its session cookie sent there)."""
    name = browser.app.config["SESSION_COOKIE_NAME"]
    browser.client.set_cookie(name, browser.session_cookie, domain=host_of(host))
    response = browser.get(path, headers={"Host": host})
    assert response.status_code == 200, response.text
    return html.unescape(response.text)


def challenge(app, host="localhost", remote_addr="127.0.0.1", headers=None):
    response = app.test_client().get(
        "/v2/",
        headers={"Host": host, **(headers or {})},
        environ_base={"REMOTE_ADDR": remote_addr},
    )
    assert response.status_code == 401
    return REALM.search(response.headers["WWW-Authenticate"]).groups()


def served_names(app):
    pem = certificate_paths(app.instance_path)[0].read_bytes()
    san = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    return [str(n) for n in san.value.get_values_for_type(x509.DNSName)]


def test_without_a_domain_name_pages_show_the_address_the_browser_used(app):
    browser = admin_browser(app)
    for host in ("vm:8443", "registry.example.test", "[::1]:5000"):
        assert f"{host}/admin/addr" in page_text(browser, "/repositories/admin/addr", host)
        general = page_text(browser, "/settings/general", host)
        assert f"/etc/docker/certs.d/{host}/ca.crt" in general
        assert 'name="domainName" value=""' in general  # none set: not the machine's name


def test_a_domain_name_with_a_port_is_the_address_everywhere(app):
    browser = admin_browser(app)
    form = {"domainName": " Registry.Example.TEST:5443 ", "tokenLifetimeSeconds": "900"}
    saved = browser.post("/settings/general", form)
    assert saved.status_code == 303, saved.text
    try:
        with app.app_context():
            assert get_setting("domain_name") == "registry.example.test:5443"
        assert "registry.example.test" in served_names(app)  # the host, without the port
        text = page_text(browser, "/repositories/admin/addr", "10.1.1.1:8443")
        assert "registry.example.test:5443/admin/addr" in text
        assert "10.1.1.1" not in text
        general = page_text(browser, "/settings/general", "10.1.1.1:8443")
        assert "/etc/docker/certs.d/registry.example.test:5443/ca.crt" in general
        # the token service (JWT audience) is the name with its port, and tokens work
        realm, service = challenge(app, host="10.1.1.1:8443")
        assert (realm, service) == ("http://10.1.1.1:8443/auth/token", "registry.example.test:5443")
        basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        client = app.test_client()
        token = client.get(
            f"/auth/token?service={service}&scope=repository:admin/addr:pull",
            headers={"Authorization": f"Basic {basic}"},
        ).json["token"]
        tags = client.get("/v2/admin/addr/tags/list", headers={"Authorization": f"Bearer {token}"})
        assert tags.status_code == 200, tags.text
    finally:  # an empty field removes the name: the browser's address again
        cleared = browser.post(
            "/settings/general", {"domainName": "", "tokenLifetimeSeconds": "900"}
        )
        assert cleared.status_code == 303, cleared.text
    with app.app_context():
        assert get_setting("domain_name") is None
    assert "vm:8443/admin/addr" in page_text(browser, "/repositories/admin/addr", "vm:8443")


def test_a_bad_port_is_a_form_message_and_saves_nothing(app):
    browser = admin_browser(app)
    response = browser.post(
        "/settings/general", {"domainName": "vm:99999", "tokenLifetimeSeconds": "900"}
    )
    assert response.status_code == 400
    assert "port must be a number from 1 to 65535" in html.unescape(response.text)
    with app.app_context():
        assert get_setting("domain_name") is None


FORWARDED = {
    "X-Forwarded-For": "198.51.100.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "registry.example.com",
}


def test_forwarded_headers_count_only_from_a_trusted_proxy(app, proxied):
    # the proxy's headers name the realm's scheme and host
    assert challenge(proxied, "dtr.internal:8080", "10.0.0.5", FORWARDED)[0] == (
        "https://registry.example.com/auth/token"
    )
    # anyone else's are ignored, as are everyone's without TRUSTED_PROXIES
    for server, peer in ((proxied, "10.0.0.6"), (app, "10.0.0.5")):
        realm = challenge(server, "dtr.internal:8080", peer, FORWARDED)[0]
        assert realm == "http://dtr.internal:8080/auth/token"


@pytest.mark.parametrize(("peer", "seen"), [("10.0.0.5", "198.51.100.7"), ("10.0.0.6", "10.0.0.6")])
def test_audit_sees_the_client_behind_a_trusted_proxy_only(proxied, peer, seen):
    proxied.test_client().get(
        "/v2/_catalog",
        headers={
            "Authorization": "Basic " + base64.b64encode(b"admin:wrong").decode(),
            **FORWARDED,
        },
        environ_base={"REMOTE_ADDR": peer},
    )
    with proxied.app_context():
        failed = audit.list_events(action="login.failed", limit=1)[0]
    assert failed.address == seen


@pytest.mark.parametrize(
    ("peer", "proto", "secure"),
    [
        ("10.0.0.5", "https", True),  # the trusted proxy serves HTTPS
        ("10.0.0.5", "http", False),  # ... plain HTTP: a Secure cookie would never come back
        ("10.0.0.6", "https", False),  # anyone else's header is not believed
    ],
)
def test_the_session_cookie_is_secure_when_the_browser_connection_is(
    proxied, peer, proto, secure, monkeypatch
):
    monkeypatch.setitem(proxied.config, "SESSION_COOKIE_SECURE", True)  # as served
    response = proxied.test_client().get(
        "/login",
        headers={"X-Forwarded-Proto": proto, "X-Forwarded-For": "198.51.100.7"},
        environ_base={"REMOTE_ADDR": peer},
    )
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(proxied.config["SESSION_COOKIE_NAME"] + "=")
    assert ("; Secure" in cookie) == secure, cookie


def test_the_certificate_follows_the_host_of_the_cli_setting(app):
    with app.app_context():
        from dtr.services.general_settings import check_domain_name
        from dtr.tls import ensure_certificate

        name = check_domain_name("cli.example.test:8443")
        set_setting("domain_name", name)
        ensure_certificate(app.instance_path, name)  # as `app.py set-domain` and `serve` do
        set_setting("domain_name", None)
    assert "cli.example.test" in served_names(app)
    assert not any(":" in n for n in served_names(app))
