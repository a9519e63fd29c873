"""The production server: gunicorn, gthread workers (one process by default, many threads;
`--workers N` for more). Nothing a request's correctness depends on lives only in one
process: upload hash states are in the database, caches follow the database's change
generations (services/change_signals.py), scheduled jobs take leases.

`python app.py serve` prepares the instance (migrations, certificate), then replaces itself
with `python -m dtr.server ...`: the gunicorn master then holds only gunicorn, and the
application is loaded in the worker.

Metrics: the master makes a fresh folder for the workers' Prometheus values before any
starts (dtr/metrics/exposition.py), marks each worker that exits dead, and removes the
folder when it exits; with `--metrics-bind HOST:PORT` it also answers scrapes itself there,
in a thread, without authentication (a private network's Prometheus only).
"""

import argparse
import json
import ssl

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from .metrics import exposition
from .tls_context import HandshakeFailures, ReloadingContext

# Requests gunicorn refuses before the application sees them (a request line over 4094 bytes,
# a malformed request line or header, headers too large) get the error envelope of the
# registry and the API instead of gunicorn's HTML page.
GUNICORN_ERROR_CODES = {400: "BAD_REQUEST", 403: "DENIED", 414: "URI_TOO_LONG"}
GUNICORN_ERROR_CODES.update({431: "HEADERS_TOO_LARGE", 500: "UNKNOWN", 501: "UNSUPPORTED"})


def write_json_error(sock, status_int, reason, message):
    """gunicorn's `util.write_error`, answering JSON."""
    code = GUNICORN_ERROR_CODES.get(status_int, "BAD_REQUEST")
    body = json.dumps(
        {"errors": [{"code": code, "message": message or reason, "detail": None}]}
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


class DTRWorker(ThreadWorker):
    """gunicorn's gthread worker, logging a failed TLS handshake once per client address
    (gunicorn warns "Invalid request from ip=..." for each one and answers a 403 that the
    broken connection cannot carry)."""

    handshake_failures = None

    def init_process(self):
        self.handshake_failures = HandshakeFailures(self.log.error_log)
        super().init_process()

    def handle_error(self, req, client, addr, exc):
        if isinstance(exc, ssl.SSLError) and req is None and self.handshake_failures:
            self.handshake_failures.report((addr or ("?",))[0], exc)
            return
        super().handle_error(req, client, addr, exc)


class DTRServer(BaseApplication):
    def __init__(self, instance_dir, bind, threads, certificate=None, workers=1, metrics_bind=None):
        self.instance_dir = instance_dir
        self.https = certificate is not None
        self.metrics_folder = exposition.prepare_folder()
        self.metrics_bind = metrics_bind
        self.options = {
            "bind": bind,
            "workers": workers,
            "worker_class": DTRWorker,
            "threads": threads,
            "timeout": 120,
            "graceful_timeout": 10,
            "keepalive": 75,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
            "control_socket_disable": True,
            # X-Forwarded-* are the application's business (TRUSTED_PROXIES, see
            # application.TrustedProxies): gunicorn believes none of them, from no address.
            "forwarded_allow_ips": "",
            "secure_scheme_headers": {},
            "when_ready": self._when_ready,
            "child_exit": lambda _arbiter, worker: exposition.worker_exited(worker.pid),
            "on_exit": lambda _arbiter: exposition.remove_folder(self.metrics_folder),
        }
        if certificate is not None:
            cert_path, key_path = certificate
            reloading = ReloadingContext(cert_path, key_path)
            self.options.update(
                certfile=str(cert_path),
                keyfile=str(key_path),
                ssl_context=lambda _conf, _default: reloading.current(),
            )
        super().__init__()

    def _when_ready(self, arbiter):
        if self.metrics_bind:
            exposition.serve_without_authentication(self.metrics_bind)
            arbiter.log.info("metrics without authentication at http://%s/", self.metrics_bind)

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)
        util.write_error = write_json_error  # the workers are forked from this process

    def load(self):
        from . import create_app
        from .scheduler import start_scheduler
        from .services.pull_statistics import start_pull_recorder
        from .services.replication_runs import start_replication_worker
        from .services.webhook_delivery import start_delivery_worker
        from .tls import follow_shared_certificate

        app = create_app(self.instance_dir)
        if not self.https and not app.config["TRUSTED_PROXY_NETWORKS"]:
            # plain HTTP (loopback, tests): a Secure cookie would never return. Behind a
            # trusted proxy, cookies are Secure when it says the browser uses HTTPS.
            app.config["SESSION_COOKIE_SECURE"] = False
        start_scheduler(app)
        start_delivery_worker(app)
        start_replication_worker(app)
        start_pull_recorder(app)
        follow_shared_certificate(app)  # another replica's new certificate, served here
        return app


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dtr.server", description=__doc__)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cert", help="certificate file (HTTPS); omit for plain HTTP")
    parser.add_argument("--key", help="private key file of --cert")
    parser.add_argument("--metrics-bind", help="HOST:PORT: /metrics without authentication")
    args = parser.parse_args(argv)
    certificate = (args.cert, args.key) if args.cert else None
    DTRServer(
        args.instance, args.bind, args.threads, certificate, args.workers, args.metrics_bind
    ).run()


if __name__ == "__main__":
    main()
