"""The registry's address: domain names with a port, the certificate's host, the proxies
whose X-Forwarded-* headers DTR believes (TRUSTED_PROXIES), and failed TLS handshakes
logged once per client address."""

import logging
import ssl

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from dtr.application import TrustedProxies
from dtr.config import ConfigError, trusted_proxy_networks
from dtr.errors import InvalidInput
from dtr.services.general_settings import check_domain_name
from dtr.tls import host_of, subject_names
from dtr.tls_context import HandshakeFailures


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Registry.Example.COM.", "registry.example.com"),
        ("vm", "vm"),
        ("vm:8443", "vm:8443"),
        (" VM:08443 ", "vm:8443"),
        ("vm.:443", "vm:443"),
        ("10.0.0.5", "10.0.0.5"),
        ("10.0.0.5:5000", "10.0.0.5:5000"),
        ("::1", "[::1]"),
        ("[2001:DB8::1]", "[2001:db8::1]"),
        ("[2001:db8:0::1]:8443", "[2001:db8::1]:8443"),
    ],
)
def test_domain_names_may_carry_a_port(typed, stored):
    assert check_domain_name(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        ":8443",
        "vm:",
        "vm:0",
        "vm:65536",
        "vm:84x3",
        "vm:８４４３",  # full-width digits
        "vm:8443:1",
        "-vm:8443",
        "bad_name!",
        "[2001:db8::1",
        "[2001:db8::1]8443",
        "[vm]:8443",
        "http://vm:8443",
        "vm/admin",
        42,
        None,
    ],
)
def test_bad_domain_names_are_refused(typed):
    with pytest.raises(InvalidInput) as refused:
        check_domain_name(typed)
    assert refused.value.message.startswith("domainName:")


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("vm:8443", "vm"),
        ("vm", "vm"),
        ("10.0.0.5:5000", "10.0.0.5"),
        ("[::1]:8443", "::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_certificate_names_the_host_without_the_port(address, host):
    assert host_of(address) == host
    assert subject_names(address)[0] == host


def test_trusted_proxies_are_addresses_or_networks():
    assert trusted_proxy_networks("") == ()
    assert [str(n) for n in trusted_proxy_networks("10.0.0.5, 10.1.0.0/16 ::1")] == [
        "10.0.0.5/32",
        "10.1.0.0/16",
        "::1/128",
    ]
    assert len(trusted_proxy_networks(["127.0.0.1", "192.168.1.7/24"])) == 2  # config.json
    for bad in ("nginx.local", "10.0.0.300", "10.0.0.0/33", 5):
        with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
            trusted_proxy_networks(bad)


def _seen(proxies, remote_addr, headers, host="dtr.internal:8080"):
    """(remote_addr, scheme, host) the application sees for a request from `remote_addr`."""

    def app(environ, start_response):
        request = Request(environ)
        body = f"{request.remote_addr} {request.scheme} {request.host}"
        return Response(body)(environ, start_response)

    wrapped = TrustedProxies(app, trusted_proxy_networks(proxies))
    builder = EnvironBuilder(
        path="/",
        base_url=f"http://{host}",
        headers=headers,
        environ_base={"REMOTE_ADDR": remote_addr},
    )
    chunks, _status, _headers = run_wsgi(wrapped, builder.get_environ())
    return tuple(b"".join(chunks).decode().split(" "))


def run_wsgi(app, environ):
    from werkzeug.test import run_wsgi_app

    return run_wsgi_app(app, environ, buffered=True)


FORWARDED = {
    "X-Forwarded-For": "203.0.113.9, 198.51.100.4",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "registry.example.com",
}


def test_forwarded_headers_count_from_trusted_proxies_only():
    # from the proxy: the client's address (the nearest untrusted one), scheme and host
    assert _seen("10.0.0.5", "10.0.0.5", FORWARDED) == (
        "198.51.100.4",
        "https",
        "registry.example.com",
    )
    # from anyone else, or with no proxy configured: ignored
    assert _seen("10.0.0.5", "10.0.0.6", FORWARDED) == ("10.0.0.6", "http", "dtr.internal:8080")
    assert _seen("", "10.0.0.5", FORWARDED) == ("10.0.0.5", "http", "dtr.internal:8080")
    # a chain of trusted proxies is walked to the first address that is not one
    assert (
        _seen("10.0.0.0/24", "10.0.0.5", {**FORWARDED, "X-Forwarded-For": "203.0.113.9, 10.0.0.7"})[
            0
        ]
        == "203.0.113.9"
    )
    # a port forwarded apart, and no headers at all
    with_port = {"X-Forwarded-Host": "registry.example.com", "X-Forwarded-Port": "8443"}
    assert _seen("10.0.0.5", "10.0.0.5", with_port)[2] == "registry.example.com:8443"
    assert _seen("10.0.0.5", "10.0.0.5", {}) == ("10.0.0.5", "http", "dtr.internal:8080")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_failed_handshakes_are_logged_once_per_address():
    logger = logging.getLogger("tests.handshakes")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    records = _Records()
    logger.addHandler(records)
    failures = HandshakeFailures(logger, remembered=2)
    alert = ssl.SSLError(
        1, "[SSL: SSLV3_ALERT_CERTIFICATE_UNKNOWN] sslv3 alert certificate unknown"
    )
    alert.reason = "SSLV3_ALERT_CERTIFICATE_UNKNOWN"
    try:
        for _ in range(5):
            failures.report("10.0.0.1", alert)
        failures.report("10.0.0.2", ssl.SSLError(1, "[SSL: HTTP_REQUEST] http request"))
        levels = [(r.levelno, r.args[0]) for r in records.records]
        assert levels == [(logging.WARNING, "10.0.0.1")] + [(logging.DEBUG, "10.0.0.1")] * 4 + [
            (logging.WARNING, "10.0.0.2")
        ]
        first = records.records[0].getMessage()
        assert "certs.d/HOST:PORT/ca.crt" in first and "debug level" in first
        assert "certs.d" not in records.records[-1].getMessage()  # not a trust problem
        failures.report("10.0.0.3", alert)  # only 2 remembered: 10.0.0.1 is forgotten
        failures.report("10.0.0.1", alert)
        assert [r.levelno for r in records.records[-2:]] == [logging.WARNING] * 2
    finally:
        logger.removeHandler(records)
