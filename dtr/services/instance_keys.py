"""Keys every process sharing the database uses, kept in it (table `instance_keys`), so that
identical replicas with instance folders of their own accept each other's session cookies,
registry tokens and access-token secrets, and serve the same certificate.

    secret_key     the session secret (it also keys the hashes of access-token and robot
                   secrets and seals the content trust server keys), unless the
                   configuration sets SECRET_KEY (DTR_SECRET_KEY)
    token_key.N    the ES256 keys registry tokens are signed with (PEM): the highest N that
                   is not retired signs; a retired one still verifies the tokens it signed
                   until they expire (auth/tokens.py)
    tls            the TLS certificate and its key (JSON of two PEMs), which each replica
                   writes to its own certs/ folder for the server (tls.py)

A key is created once, atomically across processes (INSERT .. ON CONFLICT DO NOTHING, then
SELECT: every process gets the value that won). An instance made before the keys moved to
the database has them as files in its folder (secret_key, token_key.pem, certs/): those are
the values stored on first use, so sessions, tokens and the certificate survive the upgrade.
From then on the database wins; the files are left as they were.

Keys are read (and made) at start, so requests only read them. A write made inside a write
transaction of the session commits with it; anywhere else it commits at once.
"""

import contextlib
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from sqlalchemy import delete, insert, inspect, select, update

from ..database import db, dialect_insert, own_connection, transactions_are_read_only
from ..models import InstanceKey, utcnow

SECRET_KEY = "secret_key"
TOKEN_KEY_PREFIX = "token_key."
TLS = "tls"

_lock = threading.Lock()


@contextlib.contextmanager
def _database(write=False):
    """Where to read or write: inside the session's write transaction when one is open (the
    statements commit with it, and never wait for the writer lock the caller holds), else on
    a connection of its own (the latest committed values; a write commits at once)."""
    session = db.session()
    if session.in_transaction() and not transactions_are_read_only():
        yield session
        return
    with own_connection(write=write) as connection:
        yield connection


def _rows(condition) -> list:
    query = select(
        InstanceKey.name, InstanceKey.value, InstanceKey.created_at, InstanceKey.retired_at
    ).where(condition)
    with _database() as database:
        return list(database.execute(query))


def _read(name):
    rows = _rows(InstanceKey.name == name)
    return rows[0] if rows else None


def _is_token_key():
    return InstanceKey.name.startswith(TOKEN_KEY_PREFIX, autoescape=True)


def _insert_if_missing(name, value):
    return (
        dialect_insert(InstanceKey)
        .values(name=name, value=value, created_at=utcnow())
        .on_conflict_do_nothing()
    )


def get_or_create(name: str, make) -> str:
    """The value of key `name`; when there is none, `make()` is stored, unless another
    process stored one first: the value every process gets is the one that won."""
    row = _read(name)
    if row is None:
        with _database(write=True) as database:
            database.execute(_insert_if_missing(name, make()))
            row = database.execute(select(InstanceKey.value).where(InstanceKey.name == name)).one()
    return row.value


def ready() -> bool:
    """Whether the database has the table yet (a fresh database before its migrations)."""
    return inspect(db.engine).has_table(InstanceKey.__tablename__)


# --- the session secret ------------------------------------------------------------------


def _file_or_new_secret(instance_dir) -> str:
    path = Path(instance_dir) / "secret_key"  # where it was kept before
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    return secrets.token_hex(32)


def secret_key(app=None) -> str:
    """The application's SECRET_KEY: the configuration's when it sets one, else the shared
    one of the database (read once per process, then kept in the configuration)."""
    app = app or current_app._get_current_object()
    value = app.config.get("SECRET_KEY")
    if value:
        return value
    with _lock:
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = get_or_create(
                SECRET_KEY, lambda: _file_or_new_secret(app.instance_path)
            )
        return app.config["SECRET_KEY"]


# --- registry token signing keys ---------------------------------------------------------


@dataclass(frozen=True)
class TokenKeyRow:
    number: int
    pem: str
    created_at: datetime
    retired_at: datetime | None


def _new_token_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _file_or_new_token_key(instance_dir) -> str:
    path = Path(instance_dir) / "token_key.pem"  # where it was kept before
    if path.exists():
        return path.read_text()
    return _new_token_key_pem()


def _token_key_rows() -> list[TokenKeyRow]:
    rows = []
    for row in _rows(_is_token_key()):
        number = row.name[len(TOKEN_KEY_PREFIX) :]
        if number.isdecimal():
            rows.append(TokenKeyRow(int(number), row.value, row.created_at, row.retired_at))
    return sorted(rows, key=lambda r: r.number, reverse=True)


def token_keys(instance_dir, keep_retired_seconds) -> list[TokenKeyRow]:
    """The token keys that may still verify a token, the signing one (the newest that is not
    retired) first; the first key is created when there is none (this instance's former
    token_key.pem, if it has one). Keys retired more than `keep_retired_seconds` ago (the
    longest a token lives) are left out."""
    rows = _token_key_rows()
    if not any(r.retired_at is None for r in rows):
        name = f"{TOKEN_KEY_PREFIX}{rows[0].number + 1 if rows else 1}"
        pem = _new_token_key_pem() if rows else _file_or_new_token_key(instance_dir)
        with _database(write=True) as database:
            database.execute(_insert_if_missing(name, pem))
        rows = _token_key_rows()
    oldest = utcnow() - timedelta(seconds=keep_retired_seconds)
    live = [r for r in rows if r.retired_at is None or r.retired_at > oldest]
    live.sort(key=lambda r: (r.retired_at is not None, -r.number))
    return live


def rotate_token_key(keep_retired_seconds) -> int:
    """A new signing key; the previous ones retire (they verify the tokens they signed until
    those expire) and those retired more than `keep_retired_seconds` ago are deleted.
    Returns the new key's number."""
    now = utcnow()
    with _database(write=True) as database:  # one write transaction: rotations queue
        names = database.scalars(select(InstanceKey.name).where(_is_token_key())).all()
        numbers = [name[len(TOKEN_KEY_PREFIX) :] for name in names]
        number = max((int(n) for n in numbers if n.isdecimal()), default=0) + 1
        retire = update(InstanceKey).where(_is_token_key(), InstanceKey.retired_at.is_(None))
        database.execute(retire.values(retired_at=now))
        database.execute(
            delete(InstanceKey).where(
                _is_token_key(),
                InstanceKey.retired_at < now - timedelta(seconds=keep_retired_seconds),
            )
        )
        database.execute(
            insert(InstanceKey).values(
                name=f"{TOKEN_KEY_PREFIX}{number}", value=_new_token_key_pem(), created_at=now
            )
        )
    return number


# --- the TLS certificate -----------------------------------------------------------------


@dataclass(frozen=True)
class CertificatePair:
    certificate: str  # PEM
    key: str  # PEM

    def encoded(self) -> str:
        return json.dumps({"certificate": self.certificate, "key": self.key})

    @classmethod
    def decoded(cls, value: str) -> "CertificatePair":
        data = json.loads(value)
        return cls(data["certificate"], data["key"])


def certificate(make) -> CertificatePair:
    """The certificate every replica serves; `make()` (-> CertificatePair) the first."""
    return CertificatePair.decoded(get_or_create(TLS, lambda: make().encoded()))


def stored_certificate() -> CertificatePair | None:
    """The certificate in the database now (None before the first start made one)."""
    row = _read(TLS)
    return None if row is None else CertificatePair.decoded(row.value)


def replace_certificate(pair: CertificatePair):
    """Store a new certificate for every replica (each writes it to its files within
    seconds, see tls.follow_shared_certificate)."""
    value = pair.encoded()
    with _database(write=True) as database:
        database.execute(_insert_if_missing(TLS, value))
        database.execute(
            update(InstanceKey)
            .where(InstanceKey.name == TLS)
            .values(value=value, created_at=utcnow())
        )
