"""The Flask application: configuration, extensions, blueprints, request hooks."""

import ipaddress
from pathlib import Path

from flask import Flask, has_request_context, request, send_file
from flask.sessions import SecureCookieSessionInterface
from flask_migrate import Migrate
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from .auth.tokens import TokenKey
from .config import load_config
from .database import db, set_read_only_transactions
from .log_shipper import ship_logs
from .logs import component_logger, configure_logging, log_opened
from .metrics.http import measure_requests
from .nul_guard import refuse_nul
from .services import (
    audit,
    change_signals,
    instance_keys,
    lookup_caches,
    pull_statistics,
    replication_runs,
    tag_restore,
    webhooks,
)
from .services.storage_settings import ActiveStorage

EVENT_SUBSCRIBERS = (
    audit,
    webhooks,
    pull_statistics,
    replication_runs,
    tag_restore,
)  # imported for what they do of events

MIGRATIONS = str(Path(__file__).parent / "migrations")
UNREAD_BODY_DRAIN_BYTES = 16 * 1024 * 1024
migrate = Migrate(directory=MIGRATIONS, render_as_batch=True)


def _configure_credentials(config):
    """The bounds of password checks, the login throttle, the credential cache."""
    import os

    from .auth import login_throttle, passwords
    from .services import credentials

    slots = config["PASSWORD_HASH_SLOTS"] or os.cpu_count() or 2
    queue = config["PASSWORD_HASH_QUEUE"] or 2 * slots
    passwords.slots.configure(slots, queue, config["PASSWORD_HASH_WAIT_SECONDS"])
    login_throttle.configure(config)
    credentials.configure(config["LOOKUP_CACHE_SECONDS"])


class SharedSecretSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the secret every replica shares (read from the
    database when the first request opens its session, unless the configuration sets one):
    a session cookie made by one replica is good on all."""

    def get_signing_serializer(self, app):
        try:
            instance_keys.secret_key(app)
        except DBAPIError as error:  # no database yet: no session (the request's own
            # queries will say what is wrong)
            component_logger("database").debug("no session secret: %s", error)
            return None
        return super().get_signing_serializer(app)

    def get_cookie_secure(self, app):
        """Secure (SESSION_COOKIE_SECURE) while the browser's connection is HTTPS: its own,
        or as a trusted proxy says (X-Forwarded-Proto). A browser behind a proxy that
        serves plain HTTP would never send a Secure cookie back: no login could work."""
        secure = super().get_cookie_secure(app)
        return secure and (not has_request_context() or request.is_secure)


def load_shared_keys(app):
    """Read (or make, on a database's first start) the keys every replica shares, so that no
    request waits for them; a database without its tables yet (before `upgrade`) is left
    for the first use. Called at build and again by the CLI after migrating."""
    with app.app_context():
        try:
            if not instance_keys.ready():
                return
        except OperationalError as error:  # not reachable yet: the first request will say
            component_logger("database").warning("shared keys not read: %s", error)
            return
        instance_keys.secret_key(app)
        app.extensions["dtr_token_key"].kid  # noqa: B018 - reads the keys


class TrustedProxies:
    """X-Forwarded-For/-Proto/-Host/-Port believed from the proxies of TRUSTED_PROXIES only
    (werkzeug's ProxyFix, applied when the connection comes from one of them), so that
    `request.remote_addr`, `request.scheme` and `request.host` are the client's; from anyone
    else those headers are ignored. The client address is the nearest one in X-Forwarded-For
    that is not a trusted proxy itself (a chain of trusted proxies is walked); the scheme
    and host are those the nearest proxy forwards."""

    def __init__(self, wsgi_app, networks):
        self.wsgi_app = wsgi_app
        self.networks = tuple(networks)
        self._fixes = {}

    def trusted(self, address) -> bool:
        try:
            address = ipaddress.ip_address((address or "").split("%")[0])
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        if not self.trusted(environ.get("REMOTE_ADDR")):
            return self.wsgi_app(environ, start_response)
        forwarded = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = 1
        while hops < len(forwarded) and self.trusted(forwarded[-hops]):
            hops += 1
        fix = self._fixes.get(hops)
        if fix is None:
            fix = ProxyFix(self.wsgi_app, x_for=hops, x_proto=1, x_host=1, x_port=1)
            self._fixes[hops] = fix
        return fix(environ, start_response)


def build_app(instance_dir="instance", overrides=None):
    config = load_config(instance_dir, overrides)
    app = Flask(__name__, instance_path=config["INSTANCE_DIR"])
    app.config.update(config)
    app.json.sort_keys = False
    if app.config["TRUSTED_PROXY_NETWORKS"]:
        app.wsgi_app = TrustedProxies(app.wsgi_app, app.config["TRUSTED_PROXY_NETWORKS"])
    measure_requests(app)
    configure_logging(app)
    db.init_app(app)
    ship_logs(app)
    migrate.init_app(app, db)
    app.extensions["dtr_storage"] = ActiveStorage()
    log_opened(app)
    app.extensions["dtr_token_key"] = TokenKey(
        app.instance_path, app.config["REFRESH_TOKEN_LIFETIME"]
    )
    app.session_interface = SharedSecretSessions()
    load_shared_keys(app)
    lookup_caches.configure(app.config["LOOKUP_CACHE_SECONDS"])
    _configure_credentials(app.config)

    from . import api, registry, web
    from .auth import views as auth_views
    from .auth.sessions import login_manager
    from .metrics import endpoint as metrics_endpoint

    login_manager.init_app(app)
    app.register_blueprint(registry.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(metrics_endpoint.bp)

    @app.before_request
    def _transaction_style():
        set_read_only_transactions(request.method in ("GET", "HEAD"))
        if request.endpoint != "static":
            change_signals.catch_up()  # what another process changed is seen from now on

    app.before_request(refuse_nul)

    @app.teardown_request
    def _default_transaction_style(_error):
        """After the request, its thread's transactions begin as writes again, as code
        outside requests expects (a test's thread after a test client's GET): a deferred
        one that writes would fail once another thread (the log shipper's) has written."""
        set_read_only_transactions(False)

    @app.after_request
    def _drain_unread_body(response):
        """Read what the view left of the request body (an error answered before reading it),
        so the client's next request can reuse the connection; gunicorn would close it. A
        body over the view's limit (`max_content_length`) is read from the server's own input
        stream, which `request.stream` refuses."""
        if request.content_length or "chunked" in request.headers.get("Transfer-Encoding", ""):
            left = UNREAD_BODY_DRAIN_BYTES
            try:
                stream = request.stream
            except RequestEntityTooLarge:
                stream = request.environ["wsgi.input"]  # bounded by the server
            while left > 0 and (data := stream.read(min(65536, left))):
                left -= len(data)
        return response

    @app.after_request
    def _strict_transport_security(response):
        """Over HTTPS, browsers are told to keep using it (a year; not on plain HTTP)."""
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.errorhandler(OperationalError)
    def _database_full(error):
        """The database's disk is full (SQLite: "database or disk is full"): the same answer
        as full storage, not a 500; anything else stays a server error."""
        if "disk is full" not in str(error.orig):
            raise error
        db.session.rollback()
        component_logger("database").error("the database cannot grow: its disk is full")
        body = {
            "errors": [
                {
                    "code": "UNAVAILABLE",
                    "message": "storage full: the database cannot grow (its disk is full)",
                    "detail": None,
                }
            ]
        }
        return body, 507

    @app.errorhandler(HTTPException)
    def _http_error(error):
        if request.path.startswith("/v2") and error.code in (404, 405):
            response = registry.unrouted_error(error)
            response.headers["Docker-Distribution-API-Version"] = "registry/2.0"
            return response
        return error

    @app.get("/ca.crt")
    def ca_certificate():
        """The TLS certificate, for clients to trust (docker: certs.d/HOST:PORT/ca.crt)."""
        from .tls import certificate_paths

        return send_file(
            certificate_paths(app.instance_path)[0], mimetype="application/x-x509-ca-cert"
        )

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app
