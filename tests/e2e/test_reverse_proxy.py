"""DTR behind Debian's nginx running the README's configuration (tests/support/nginx.py):
docker pushes and pulls through it, the token realm and the portal's commands name the
proxy, and the login throttle and the audit log see the client's address from
X-Forwarded-For only when the proxy is in TRUSTED_PROXIES."""

import contextlib
import html
import os
import re

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.support.images import Image, sha256
from tests.support.nginx import nginx_in_front, quiet_insecure_warnings
from tests.support.server import USERS, running_dtr

from .conftest import registry_client
from .test_docker import pushed_digest

pytestmark = pytest.mark.e2e

REPOSITORY = "admin/proxied"
# Every address may fail a few times before it is locked; names never are (these tests
# lock addresses on purpose).
THROTTLE = {"DTR_LOGIN_NAME_FREE_FAILURES": "1000000", "DTR_LOGIN_ADDRESS_FREE_FAILURES": "2"}
REALM = re.compile(r'realm="([^"]+)"')


@contextlib.contextmanager
def proxied_dtr(tmp_path_factory, name, env):
    folder = tmp_path_factory.mktemp(name)
    with running_dtr(folder / "instance", [REPOSITORY], env=env, throttle=True) as dtr:
        with nginx_in_front(dtr, folder / "nginx") as proxy:
            yield dtr, proxy


@pytest.fixture(scope="module")
def trusted(tmp_path_factory):
    """DTR behind nginx, which it trusts (DTR_TRUSTED_PROXIES, as the README runs it)."""
    env = {"DTR_TRUSTED_PROXIES": "127.0.0.1", **THROTTLE}
    with proxied_dtr(tmp_path_factory, "trusted", env) as stack:
        yield stack


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory):
    """The same without TRUSTED_PROXIES: nginx's X-Forwarded-* are ignored."""
    with proxied_dtr(tmp_path_factory, "untrusted", THROTTLE) as stack:
        yield stack


class _FromAddress(HTTPAdapter):
    """Connections made from a chosen loopback address (a client other than nginx)."""

    def __init__(self, source):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(source="127.0.0.1"):
    session = requests.Session()
    session.mount("https://", _FromAddress(source))
    session.mount("http://", _FromAddress(source))
    return session


def get(session, url, **kwargs):
    with quiet_insecure_warnings():
        return session.get(url, timeout=30, verify=False, **kwargs)


def realm_of(response):
    assert response.status_code == 401, response.text
    return REALM.search(response.headers["WWW-Authenticate"])[1]


def test_docker_pushes_and_pulls_through_the_documented_nginx(trusted, docker, tmp_path):
    dtr, proxy = trusted
    # a layer over nginx's default body limit (1 MiB), random so compression cannot shrink it
    image = Image([{"big.bin": os.urandom(3 << 20)}, {"hello.txt": b"via nginx\n"}], docker=True)
    reference = f"{proxy.host}/{REPOSITORY}:v1"
    docker.load(image, reference, tmp_path)
    assert "Login Succeeded" in docker.login(proxy, "writer").stdout
    digest = pushed_digest(docker("push", reference).stdout, "v1")
    stored = registry_client(dtr).get_manifest(REPOSITORY, "v1")  # straight from DTR
    assert stored.status_code == 200 and sha256(stored.content) == digest
    docker("rmi", reference)
    assert f"Digest: {digest}" in docker("pull", reference).stdout
    assert docker.image_id(reference) == sha256(image.config)
    docker("pull", f"{proxy.host}/{REPOSITORY}@{digest}")
    access = (proxy.folder / "access.log").read_text()
    assert f"PUT /v2/{REPOSITORY}/manifests/v1" in access  # it did go through nginx
    assert f"GET /v2/{REPOSITORY}/blobs/" in access


def test_the_token_realm_and_the_portal_name_the_proxy(trusted):
    dtr, proxy = trusted
    session = client_at()
    assert realm_of(get(session, f"{proxy.url}/v2/")) == f"https://{proxy.host}/auth/token"
    login = get(session, f"{proxy.url}/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)[1]
    form = {"username": "admin", "password": USERS["admin"][0], "csrf_token": token}
    with quiet_insecure_warnings():
        logged_in = session.post(f"{proxy.url}/login", data=form, timeout=30, verify=False)
    assert logged_in.status_code == 200 and logged_in.url.endswith("/repositories")
    cookie = next(c for c in session.cookies if c.name == "dtr_session")
    assert cookie.secure  # behind a trusted HTTPS proxy, even though DTR serves --http
    page = get(session, f"{proxy.url}/repositories/{REPOSITORY}")
    assert page.headers["Strict-Transport-Security"]  # DTR knows the client used HTTPS
    text = html.unescape(page.text)
    assert f"{proxy.host}/{REPOSITORY}" in text and dtr.host not in text
    general = html.unescape(get(session, f"{proxy.url}/settings/general").text)
    assert f"/etc/docker/certs.d/{proxy.host}/ca.crt" in general


def test_an_untrusted_proxy_cannot_set_the_scheme_or_host(untrusted):
    dtr, proxy = untrusted
    session = client_at()
    # nginx says https; DTR does not believe it (nginx passes the Host it was sent)
    assert realm_of(get(session, f"{proxy.url}/v2/")) == f"http://{proxy.host}/auth/token"
    spoofed = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    direct = get(session, f"{dtr.url}/v2/", headers=spoofed)
    assert realm_of(direct) == f"http://{dtr.host}/auth/token"


@pytest.mark.parametrize("stack", ["trusted", "untrusted"])
def test_throttle_and_audit_see_the_client_only_through_a_trusted_proxy(request, stack):
    """A client at 127.0.0.2 claiming to be 203.0.113.7 fails to log in through nginx: a
    trusted nginx makes DTR see 127.0.0.2 (what nginx saw; the claim is ignored) and lock
    that address alone; an untrusted one makes every client nginx itself (127.0.0.1)."""
    dtr, proxy = request.getfixturevalue(stack)
    seen = "127.0.0.2" if stack == "trusted" else "127.0.0.1"
    client, other = client_at("127.0.0.2"), client_at("127.0.0.3")
    claim = {"X-Forwarded-For": "203.0.113.7"}
    refused = get(client, f"{proxy.url}/v2/_catalog", auth=("nobody", "wrong"), headers=claim)
    assert refused.status_code == 401, refused.text
    audit = get(
        client_at(),
        f"{dtr.url}/api/v0/admin/audit",
        auth=("admin", USERS["admin"][0]),
        params={"limit": 20},
    )
    failed = [e for e in audit.json()["events"] if e["action"] == "login.failed"][0]
    assert failed["address"] == seen
    for _ in range(6):  # until the address is locked
        answer = get(client, f"{proxy.url}/v2/_catalog", auth=("nobody", "wrong"), headers=claim)
        if answer.status_code == 429:
            break
    assert answer.status_code == 429, answer.text
    reader = ("reader", USERS["reader"][0])
    another_client = get(other, f"{proxy.url}/auth/token", auth=reader).status_code
    assert another_client == (200 if stack == "trusted" else 429)
