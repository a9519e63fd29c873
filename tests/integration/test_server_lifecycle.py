"""TLS, the command line, restarts, token expiry during a push, concurrent pushes."""

import os
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
import requests
from cryptography import x509

from tests.support.client import RegistryClient
from tests.support.images import sha256, simple_image
from tests.support.server import ROOT, DTRProcess


@pytest.fixture
def fresh(tmp_path):
    """A DTR of its own (for restarts and special settings); started by the test."""
    servers = []

    def make(http=True, env=None):
        server = DTRProcess(tmp_path / f"instance{len(servers)}", http=http, env=env)
        server.create_users()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def served_certificate(port):
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return x509.load_pem_x509_certificate(pem.encode())


def san_names(certificate):
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in san}


def test_https_with_self_signed_certificate_and_domain_change(fresh, tmp_path):
    server = fresh(http=False).start()
    ca = requests.get(f"{server.url}/ca.crt", verify=False)
    assert ca.status_code == 200 and b"BEGIN CERTIFICATE" in ca.content
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.content)
    # verified against the downloaded certificate, for both names
    assert requests.get(f"{server.url}/v2/", verify=str(ca_file)).status_code == 401
    https_localhost = f"https://localhost:{server.port}/v2/"
    assert requests.get(https_localhost, verify=str(ca_file)).status_code == 401
    names = san_names(served_certificate(server.port))
    assert {"localhost", "127.0.0.1", socket.gethostname()} <= names
    # a new domain name regenerates the certificate; the running server serves it
    result = server.cli("set-domain", "registry.example.test")
    assert result.returncode == 0, result.stderr
    assert "registry.example.test" in san_names(served_certificate(server.port))
    with pytest.raises(requests.exceptions.SSLError):  # the old certificate is not served
        requests.get(f"{server.url}/v2/", verify=str(ca_file))
    client = RegistryClient(server.url, "admin", "admin-password-1")
    assert server.cli("create-repo", "admin/tls").returncode == 0
    image = simple_image("tls")
    assert client.push_image("admin/tls", "v1", image) == image.digest


def test_cli_errors_are_clear(fresh):
    server = fresh()
    long_enough = "x" * 12 + "\n"
    taken = server.cli(
        "create-user", "admin", "--role", "admin", "--password-stdin", stdin=long_enough
    )
    assert taken.returncode != 0 and "already taken" in taken.stderr
    invalid = server.cli(
        "create-user", "Bad Name", "--role", "none", "--password-stdin", stdin=long_enough
    )
    assert invalid.returncode != 0 and "invalid name" in invalid.stderr
    role = server.cli(
        "create-user", "someone", "--role", "king", "--password-stdin", stdin=long_enough
    )
    assert role.returncode != 0
    empty = server.cli("create-user", "someone", "--role", "none", "--password-stdin", stdin="\n")
    assert empty.returncode != 0 and "password" in empty.stderr
    assert server.cli("create-repo", "ghost/repo").returncode != 0
    assert server.cli("create-repo", "admin/Bad").returncode != 0
    assert server.cli("create-repo", "admin/ok").returncode == 0
    again = server.cli("create-repo", "admin/ok")
    assert again.returncode != 0 and "already exists" in again.stderr
    helps = subprocess.run(
        [sys.executable, "app.py", "serve", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert "--bind" in helps.stdout and "--http" in helps.stdout and "--instance" in helps.stdout


def test_fresh_install_allows_nothing_until_an_admin_exists(tmp_path):
    server = DTRProcess(tmp_path / "empty")
    result = server.cli(
        "create-user", "dev", "--role", "read-write", "--password-stdin", stdin="dev-password-1\n"
    )
    assert result.returncode == 0
    server.start()
    try:
        # auth mode is still None: no credentials work, nothing is granted
        response = requests.get(f"{server.url}/v2/", auth=("dev", "dev-password-1"))
        assert response.status_code == 401
        token = requests.get(f"{server.url}/auth/token", params={"scope": "repository:dev/x:pull"})
        assert token.json()["scope"] == ""
    finally:
        server.stop()


def test_upload_resumes_after_a_restart(fresh):
    server = fresh().start()
    assert server.cli("create-repo", "admin/resume").returncode == 0
    client = RegistryClient(server.url, "admin", "admin-password-1")
    data = os.urandom(3 * 1024 * 1024)
    location = client.request("POST", "/v2/admin/resume/blobs/uploads/").headers["Location"]
    first = client.request(
        "PATCH", location, data=data[:1000000], headers={"Content-Range": "0-999999"}
    )
    assert first.status_code == 202
    server.stop()
    server.start()  # hash state is rebuilt from the stored bytes
    client = RegistryClient(server.url, "admin", "admin-password-1")
    status = client.request("GET", location)
    assert status.status_code == 204 and status.headers["Range"] == "0-999999"
    rest = client.request(
        "PATCH",
        location,
        data=data[1000000:],
        headers={"Content-Range": f"1000000-{len(data) - 1}"},
    )
    assert rest.status_code == 202
    done = client.request("PUT", location, params={"digest": sha256(data)})
    assert done.status_code == 201
    assert client.request("GET", f"/v2/admin/resume/blobs/{sha256(data)}").content == data


def test_push_slower_than_the_token_lifetime(fresh):
    server = fresh(env={"DTR_TOKEN_LIFETIME": "2"}).start()
    assert server.cli("create-repo", "admin/slow").returncode == 0
    client = RegistryClient(server.url, "admin", "admin-password-1")
    chunks = [os.urandom(100_000) for _ in range(3)]
    location = client.request("POST", "/v2/admin/slow/blobs/uploads/").headers["Location"]
    offset = 0
    for chunk in chunks:
        time.sleep(3.2)  # the token expires between chunks; the client re-authenticates
        end = offset + len(chunk) - 1
        response = client.request(
            "PATCH", location, data=chunk, headers={"Content-Range": f"{offset}-{end}"}
        )
        assert response.status_code == 202, response.text
        location, offset = response.headers["Location"], end + 1
    data = b"".join(chunks)
    assert client.request("PUT", location, params={"digest": sha256(data)}).status_code == 201
    assert client.token_requests >= 3


def test_concurrent_pushes_do_not_fail(fresh):
    server = fresh().start()
    assert server.cli("create-repo", "admin/busy").returncode == 0
    shared = os.urandom(200_000)
    errors = []

    def push(index):
        try:
            client = RegistryClient(server.url, "writer", "writer-password-1")
            image = simple_image(f"concurrent-{index}", layers=3)
            client.push_blob("admin/busy", shared)
            assert client.push_image("admin/busy", f"t{index}", image) == image.digest
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(error))

    threads = [threading.Thread(target=push, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    tags = (
        RegistryClient(server.url, "admin", "admin-password-1")
        .request("GET", "/v2/admin/busy/tags/list")
        .json()["tags"]
    )
    assert len(tags) == 16
    assert "database is locked" not in server.log_text()


def test_killed_server_leaves_no_blob_visible(fresh):
    server = fresh().start()
    assert server.cli("create-repo", "admin/killed").returncode == 0
    data = os.urandom(8 * 1024 * 1024)
    digest = sha256(data)
    sent = threading.Event()

    def body():
        for start in range(0, len(data), 1024 * 1024):
            if start == 4 * 1024 * 1024:
                sent.set()
                time.sleep(30)  # the server is killed while the body is half sent
            yield data[start : start + 1024 * 1024]

    def upload():
        try:
            requests.post(
                f"{server.url}/v2/admin/killed/blobs/uploads/",
                params={"digest": digest},
                data=body(),
                auth=("admin", "admin-password-1"),
                timeout=60,
            )
        except requests.RequestException:
            pass

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    assert sent.wait(30)
    time.sleep(0.5)
    server.process.kill()  # SIGKILL to the gunicorn master...
    server.process.wait()
    subprocess.run(["pkill", "-9", "-f", f"dtr.server --bind {server.host}"], check=False)
    time.sleep(0.5)
    server.start()
    client = RegistryClient(server.url, "admin", "admin-password-1")
    assert client.request("HEAD", f"/v2/admin/killed/blobs/{digest}").status_code == 404
    blob_files = list((server.instance / "storage" / "blobs").rglob(digest.split(":")[1]))
    assert blob_files == []
    # the same blob can be pushed again, whole
    assert client.push_blob("admin/killed", data) == digest
    assert client.request("GET", f"/v2/admin/killed/blobs/{digest}").content == data
