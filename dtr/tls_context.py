"""The server's SSL context, following the certificate file so that a regenerated
certificate is served without a restart."""

import ssl
import threading
from pathlib import Path


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
