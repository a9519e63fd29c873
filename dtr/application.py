"""The Flask application: configuration, extensions, blueprints, request hooks."""

from pathlib import Path

from flask import Flask, request, send_file
from flask_migrate import Migrate
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .auth.tokens import TokenKey
from .config import load_config
from .database import db, set_read_only_transactions
from .logs import component_logger, configure_logging, log_opened
from .services import lookup_caches
from .services.storage_settings import ActiveStorage

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


def build_app(instance_dir="instance", overrides=None):
    config = load_config(instance_dir, overrides)
    app = Flask(__name__, instance_path=config["INSTANCE_DIR"])
    app.config.update(config)
    app.json.sort_keys = False
    configure_logging(app)
    db.init_app(app)
    migrate.init_app(app, db)
    app.extensions["dtr_storage"] = ActiveStorage()
    log_opened(app)
    app.extensions["dtr_token_key"] = TokenKey(app.instance_path)
    lookup_caches.configure(app.config["LOOKUP_CACHE_SECONDS"])
    _configure_credentials(app.config)

    from . import api, registry, web
    from .auth import views as auth_views
    from .auth.sessions import login_manager

    login_manager.init_app(app)
    app.register_blueprint(registry.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(web.bp)

    @app.before_request
    def _transaction_style():
        set_read_only_transactions(request.method in ("GET", "HEAD"))

    @app.after_request
    def _drain_unread_body(response):
        """Read what the view left of the request body (an error answered before reading it),
        so the client's next request can reuse the connection; gunicorn would close it."""
        if request.content_length or "chunked" in request.headers.get("Transfer-Encoding", ""):
            left = UNREAD_BODY_DRAIN_BYTES
            while left > 0 and (data := request.stream.read(min(65536, left))):
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
        """The TLS certificate, for clients to trust (docker: certs.d/HOST/ca.crt)."""
        from .tls import certificate_paths

        return send_file(
            certificate_paths(app.instance_path)[0], mimetype="application/x-x509-ca-cert"
        )

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app
