"""Clients that do not trust the self-signed certificate (a browser before its user accepts
it, docker without certs.d) abort every TLS handshake: the server logs that once per client
address, with what to do, and at debug level after that (not a warning per connection)."""

import socket
import ssl
import time

import pytest
import requests

from tests.support.server import DTRProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("tls") / "instance", http=False)
    process.start()
    yield process
    process.stop()


def refused_handshake(server, source):
    """A client on `source` that checks the certificate against the system's CAs: it
    refuses DTR's and aborts the handshake with an alert."""
    context = ssl.create_default_context()
    with socket.create_connection(("127.0.0.1", server.port), 5, (source, 0)) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="localhost")


def plain_http(server, source):
    """A request in plain HTTP to the HTTPS port (also a failed handshake)."""
    with socket.create_connection(("127.0.0.1", server.port), 5, (source, 0)) as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.settimeout(5)
        try:
            raw.recv(1024)
        except OSError:
            pass


def handshake_lines(server):
    return [line for line in server.log_text().splitlines() if "TLS handshake from" in line]


def test_failed_handshakes_are_logged_once_per_client_address(server):
    for _ in range(6):
        refused_handshake(server, "127.0.0.1")
    for _ in range(3):
        refused_handshake(server, "127.0.0.2")
        plain_http(server, "127.0.0.2")
    deadline = time.monotonic() + 10
    while len(handshake_lines(server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # time for more lines, if each failure were logged
    lines = handshake_lines(server)
    assert len(lines) == 2, lines
    first, second = sorted(lines, key=lambda line: "127.0.0.2" in line)
    assert "[WARNING] TLS handshake from 127.0.0.1 failed" in first
    assert "/etc/docker/certs.d/HOST:PORT/ca.crt" in first  # what to do about it
    assert "further failures from this address are logged at debug level" in first
    assert "127.0.0.2" in second
    assert "Invalid request from ip=" not in server.log_text()  # gunicorn's own warning
    health = requests.get(f"{server.url}/health", verify=False, timeout=5)
    assert health.status_code == 200
