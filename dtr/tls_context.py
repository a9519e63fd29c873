"""The server's SSL context, following the certificate file so that a regenerated
certificate is served without a restart; failed handshakes logged once per client address."""

import logging
import ssl
import threading
from collections import OrderedDict
from pathlib import Path

# Alerts of clients that do not trust the certificate (browsers before the user accepts a
# self-signed one, docker without certs.d/HOST:PORT/ca.crt).
UNTRUSTED_CERTIFICATE_ALERTS = ("CERTIFICATE_UNKNOWN", "UNKNOWN_CA", "BAD_CERTIFICATE")


class ReloadingContext:
    """The server SSL context, rebuilt when the certificate file changes (checked per call)."""

    def __init__(self, cert_path, key_path):
        self.cert_path, self.key_path = Path(cert_path), Path(key_path)
        self._lock = threading.Lock()
        self._mtime = None
        self._context = None

    def current(self) -> ssl.SSLContext:
        try:
            mtime = self.cert_path.stat().st_mtime_ns
        except OSError:
            mtime = self._mtime
        with self._lock:
            if mtime != self._mtime or self._context is None:
                try:
                    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    context.minimum_version = ssl.TLSVersion.TLSv1_2
                    context.load_cert_chain(self.cert_path, self.key_path)
                    self._context, self._mtime = context, mtime
                except (OSError, ssl.SSLError):
                    if self._context is None:
                        raise
                    # a half-written pair: keep serving the previous one
            return self._context


class HandshakeFailures:
    """Failed TLS handshakes, logged at warning level once per client address and at debug
    level after that: a browser that has not accepted the self-signed certificate aborts
    every connection it opens, which would fill the log. The addresses remembered are
    bounded (the oldest forgotten first), so a scan of many addresses costs fixed memory."""

    def __init__(self, logger: logging.Logger, remembered=4096):
        self.logger = logger
        self.remembered = remembered
        self._seen = OrderedDict()
        self._lock = threading.Lock()

    def report(self, address, error: Exception):
        with self._lock:
            first = address not in self._seen
            self._seen[address] = None
            self._seen.move_to_end(address)
            while len(self._seen) > self.remembered:
                self._seen.popitem(last=False)
        reason = getattr(error, "reason", None) or str(error)
        if not first:
            self.logger.debug("TLS handshake from %s failed again: %s", address, reason)
            return
        hint = ""
        if any(alert in str(reason).upper() for alert in UNTRUSTED_CERTIFICATE_ALERTS):
            hint = (
                " (the client does not trust DTR's certificate: docker needs it in "
                "/etc/docker/certs.d/HOST:PORT/ca.crt, from /ca.crt or Settings > General)"
            )
        self.logger.warning(
            "TLS handshake from %s failed: %s%s; further failures from this address are "
            "logged at debug level",
            address,
            error,
            hint,
        )
