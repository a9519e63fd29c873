"""Configuration: defaults, then `instance/config.json`, then `DTR_*` environment variables.

Settings that admins change at run time (domain name, auth mode, create-on-push...) live in
the database instead (see `services/settings.py`); this module holds what is fixed at start.
"""

import ipaddress
import json
import os
from pathlib import Path

DEFAULTS = {
    # Seconds a registry bearer token lives.
    "TOKEN_LIFETIME": 900,
    # Seconds a refresh token (docker login identity token) lives.
    "REFRESH_TOKEN_LIFETIME": 30 * 24 * 3600,
    # Seconds a successful password check is remembered, so a push of many layers hashes once.
    "CREDENTIAL_CACHE_SECONDS": 60,
    # Password checks (argon2, 64 MiB each) running at once (0: one per core), callers that
    # may wait for one (0: twice as many), and how long they wait before a 429.
    "PASSWORD_HASH_SLOTS": 0,
    "PASSWORD_HASH_QUEUE": 0,
    "PASSWORD_HASH_WAIT_SECONDS": 2,
    # The login throttle (dtr/auth/login_throttle.py): failures of a name before each further
    # one locks it for LOGIN_NAME_LOCK_SECONDS; failures of an address before its locks start
    # doubling, up to LOGIN_ADDRESS_MAX_LOCK_SECONDS.
    "LOGIN_NAME_FREE_FAILURES": 5,
    "LOGIN_NAME_LOCK_SECONDS": 30,
    "LOGIN_ADDRESS_FREE_FAILURES": 20,
    "LOGIN_ADDRESS_MAX_LOCK_SECONDS": 900,
    # Scopes one token request may ask for, and the size of its query string or form.
    "MAX_TOKEN_SCOPES": 64,
    "MAX_TOKEN_REQUEST_BYTES": 64 * 1024,
    "MAX_MANIFEST_BYTES": 4 * 1024 * 1024,
    # Bytes read from a request body or a file per step while streaming.
    "STREAM_CHUNK_BYTES": 1024 * 1024,
    # Seconds a request waits for another one writing the same upload (services/upload_locks.py).
    "UPLOAD_LOCK_WAIT_SECONDS": 30,
    "STORAGE_BACKEND": "filesystem",
    # The database: SQLite in the instance folder unless DATABASE_URL (the environment
    # variable, or a key of config.json) names another (postgresql://USER:PASS@HOST/DB).
    # With PostgreSQL, connections each process keeps (and may add beyond them when busy).
    "DATABASE_POOL_SIZE": 10,
    "DATABASE_POOL_OVERFLOW": 20,
    "THREADS": 32,
    # Server processes (`serve --workers`), each with THREADS threads. One is the embedded
    # default; more share the work of one machine's cores (SQLite or PostgreSQL).
    "WORKERS": 1,
    # Seconds between two ticks of the scheduler thread (dtr/scheduler.py): a scheduled job
    # starts at most this long after its due time.
    "SCHEDULER_TICK_SECONDS": 30,
    # Webhook deliveries (services/webhook_delivery.py): seconds before the first retry
    # (doubled for each next one, at most an hour), attempts before one is given up, seconds
    # the worker waits for an answer, and between two looks for due deliveries (a new one
    # wakes it at once in the process that queued it).
    "WEBHOOK_RETRY_SECONDS": 10,
    "WEBHOOK_ATTEMPTS": 8,
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    "WEBHOOK_POLL_SECONDS": 5,
    "WEBHOOK_ALLOW_LOCAL": 0,  # 1: webhooks may go to loopback and link-local addresses
    "WEBHOOK_HISTORY_DAYS": 30,  # finished deliveries are kept this long
    # Replication (services/replication_runs.py): attempts of each artifact, seconds before
    # the first retry (doubled for each next one), seconds between two looks for queued runs
    # (a push wakes the worker at once in its process), days finished runs are kept.
    "REPLICATION_ATTEMPTS": 3,
    "REPLICATION_RETRY_SECONDS": 2,
    "REPLICATION_POLL_SECONDS": 5,
    "REPLICATION_HISTORY_DAYS": 30,
    # Seconds between two writes of the pull counts (services/pull_statistics.py): a tag's
    # "last pulled" is at most this late.
    "PULL_FLUSH_SECONDS": 10,
    # Days a deleted tag can be restored (services/tag_restore.py); garbage collection keeps
    # its content that long.
    "TAG_RESTORE_DAYS": 14,
    # Seconds a repository, manifest or blob-link lookup is remembered. A write invalidates at
    # once, in this process and (services/change_signals.py) every other sharing the database.
    "LOOKUP_CACHE_SECONDS": 2,
    # Browser sessions of the web portal: cookies only over HTTPS (`serve --http` turns this
    # off), never readable by scripts, not sent on cross-site requests.
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "dtr_session",
    "PERMANENT_SESSION_LIFETIME": 12 * 3600,
    # The public key licenses must be signed with: a PEM string or a path to a PEM file.
    "LICENSE_PUBLIC_KEY": str(Path(__file__).parent / "license_public_key.pem"),
    # Reverse proxies (addresses or CIDR networks, separated by commas or spaces; a list in
    # config.json) whose X-Forwarded-For/-Proto/-Host/-Port headers DTR believes: the client
    # address (login throttle, audit, logs), the scheme and host of links and of the token
    # realm. Empty: those headers are ignored, whoever sends them.
    "TRUSTED_PROXIES": "",
    # The name this process's log lines carry in Settings > Logs, which shows the lines of
    # every replica sharing the database (dtr/log_shipper.py). Empty: the host name, which
    # tells replicas apart when each has a host or container of its own, as they usually
    # do, and stays the same across restarts (a process id would not: no ":<pid>" is
    # added). The workers of one server (WORKERS) are one replica and carry one name; a
    # command-line run (gc, create-user) carries its host's. Two servers on one host
    # sharing a database: give each a name (DTR_REPLICA_NAME).
    "REPLICA_NAME": "",
}

INTEGER_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, int)}


class ConfigError(Exception):
    """The configuration cannot be used; the message says which setting and why."""


def load_config(instance_dir, overrides=None):
    """Return the configuration mapping for an instance folder (created if missing)."""
    instance = Path(instance_dir).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    config = dict(DEFAULTS)
    config["INSTANCE_DIR"] = str(instance)
    config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'dtr.db'}"
    config["STORAGE_ROOT"] = str(instance / "storage")
    file = instance / "config.json"
    if file.exists():
        config.update(json.loads(file.read_text()))
    if os.environ.get("DATABASE_URL"):
        config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    for key, value in os.environ.items():
        if key.startswith("DTR_") and key != "DTR_INSTANCE":
            name = key[4:]
            config[name] = int(value) if name in INTEGER_KEYS else value
    config.update(overrides or {})
    if config.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(config["DATABASE_URL"])
    # SECRET_KEY: unless set here, the one shared through the database, read when the
    # application first needs it (services/instance_keys.py).
    config["LICENSE_PUBLIC_KEY_PEM"] = _license_public_key(config["LICENSE_PUBLIC_KEY"])
    config["TRUSTED_PROXY_NETWORKS"] = trusted_proxy_networks(config["TRUSTED_PROXIES"])
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from .database import sqlite_connect_args

        engine = {"pool_size": config["THREADS"] + 4, "max_overflow": 8}
        engine["connect_args"] = sqlite_connect_args()
    else:  # a server's connections are a shared resource: DATABASE_POOL_SIZE per process
        engine = {
            "pool_size": config["DATABASE_POOL_SIZE"],
            "max_overflow": config["DATABASE_POOL_OVERFLOW"],
            "pool_pre_ping": True,  # a connection the server closed (restart) is replaced
            "pool_recycle": 3600,
        }
    config["SQLALCHEMY_ENGINE_OPTIONS"] = engine
    config["SQLALCHEMY_TRACK_MODIFICATIONS"] = False
    return config


def sqlalchemy_url(database_url: str) -> str:
    """DATABASE_URL as SQLAlchemy takes it: `postgresql://` and `postgres://` use psycopg 3
    (SQLAlchemy's default PostgreSQL driver would be psycopg2); `sqlite:///PATH` as is."""
    scheme, sep, rest = database_url.partition("://")
    if not sep:
        raise ConfigError(
            "DATABASE_URL: postgresql://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH"
        )
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme == "sqlite":
        return database_url
    raise ConfigError(f"DATABASE_URL: {scheme}:// is not supported (postgresql:// or sqlite://)")


def trusted_proxy_networks(value) -> tuple:
    """TRUSTED_PROXIES (a string of addresses or networks separated by commas or spaces, or
    a list of them) -> ip networks; a value that is neither stops the start."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError("TRUSTED_PROXIES: addresses or CIDR networks, e.g. 10.0.0.5,10.1.0.0/16")
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"TRUSTED_PROXIES: {str(item)[:100]!r} is not an IP address or a CIDR network"
            ) from None
    return tuple(networks)


def _license_public_key(value):
    """The PEM text of LICENSE_PUBLIC_KEY, checked: a key that cannot be loaded stops the
    start with a clear message."""
    from .license import LicenseKeyError, read_public_key_pem

    try:
        return read_public_key_pem(value)
    except LicenseKeyError as error:
        raise ConfigError(str(error)) from None
