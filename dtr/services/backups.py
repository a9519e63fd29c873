"""Backups of an instance while it serves, their verification, and their restore into an
empty instance (`python app.py backup|restore`).

A backup is a folder (or the same folder as a .tar.gz):

    dtr-backup.json     what it is: DTR version, schema revision, database kind, storage
                        backend, whether blobs are in it, and the SHA-256 of every file
    database.sqlite     SQLite: a consistent copy made by SQLite's online backup API
    database.sql        PostgreSQL: pg_dump of one snapshot (plain SQL)
    blobs.json          every blob the database references: [{"digest", "size"}]
    blobs/sha256/..     those blobs (`--include-blobs`; else the storage's own backup must
                        hold them, which `restore` checks)
    instance/           the instance folder's own files: config.json, certs/

The database holds everything else: users, teams, grants, settings, signatures, trust data
and the instance keys (token signing keys, session secret), so tokens signed before the
backup verify after a restore. Garbage collection is held off while a backup runs (the
backup holds its lease), so no blob the snapshot references is deleted before it is copied.
"""

import hashlib
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app

from .. import __version__
from ..database import db
from ..errors import DomainError
from ..gc import LEASE as GC_LEASE
from ..schema_migrations import database_revision
from ..storage import PathNotFound, current_storage
from ..storage.layout import blob_path
from .job_leases import new_holder, release_lease, renew_lease, take_lease

MANIFEST = "dtr-backup.json"
FORMAT = 1
INSTANCE_FILES = ("config.json", "certs")
LEASE_SECONDS = 120
CHUNK = 1024 * 1024


class BackupFailed(DomainError):
    pass


# --- backup -------------------------------------------------------------------------------


def make_backup(target: str, include_blobs: bool, progress=print) -> dict:
    """Back up the instance to `target` (a new folder, or a file ending .tar.gz); returns
    the backup's description."""
    archive = target.endswith((".tar.gz", ".tgz"))
    target_path = Path(target).absolute()
    if not target_path.parent.is_dir():
        raise BackupFailed(f"{target_path.parent} is not a folder: make it first")
    if target_path.exists() and (archive or not target_path.is_dir() or any(target_path.iterdir())):
        raise BackupFailed(f"{target} exists already: give a new folder or file")
    work = Path(tempfile.mkdtemp(dir=target_path.parent, prefix=".dtr-backup-"))
    try:
        with _holding_gc_lease():
            description = _write_backup(work, include_blobs, progress)
        if archive:
            with tarfile.open(target_path, "w:gz") as tar:
                tar.add(work, arcname="dtr-backup")
        else:
            target_path.mkdir(exist_ok=True)
            for entry in work.iterdir():
                entry.rename(target_path / entry.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return description


@contextmanager
def _holding_gc_lease():
    """Hold garbage collection's lease (renewed) while the body runs."""
    holder = new_holder()
    if not take_lease(GC_LEASE, holder, LEASE_SECONDS):
        db.session.rollback()
        raise BackupFailed("a garbage collection is running: back up when it has finished")
    db.session.commit()
    app = current_app._get_current_object()
    done = threading.Event()

    def renew():
        with app.app_context():
            while not done.wait(LEASE_SECONDS / 4):
                renew_lease(GC_LEASE, holder, LEASE_SECONDS)
                db.session.commit()

    renewer = threading.Thread(target=renew, name="dtr-backup-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()
        release_lease(GC_LEASE, holder)
        db.session.commit()


def _write_backup(folder: Path, include_blobs: bool, progress) -> dict:
    kind = db.engine.url.get_backend_name()
    if kind == "sqlite":
        database_file = "database.sqlite"
        _copy_sqlite(db.engine.url.database, folder / database_file)
        blobs = _sqlite_blobs(folder / database_file)
    elif kind == "postgresql":
        database_file = "database.sql"
        blobs = _dump_postgresql(folder / database_file)
    else:
        raise BackupFailed(f"backups of a {kind} database are not supported")
    progress(f"database copied ({kind}): {len(blobs)} blobs referenced")
    (folder / "blobs.json").write_text(json.dumps(blobs))
    instance = Path(current_app.instance_path)
    for name in INSTANCE_FILES:
        if (instance / name).is_dir():
            shutil.copytree(instance / name, folder / "instance" / name)
        elif (instance / name).exists():
            (folder / "instance").mkdir(exist_ok=True)
            shutil.copy2(instance / name, folder / "instance" / name)
    if include_blobs:
        _copy_blobs_out(blobs, folder, progress)
    description = {
        "format": FORMAT,
        "dtrVersion": __version__,
        "schemaRevision": database_revision(),
        "createdAt": datetime.now(UTC).isoformat(),
        "database": kind,
        "storageBackend": current_app.extensions["dtr_storage"].driver().__class__.__name__,
        "blobsIncluded": include_blobs,
        "blobCount": len(blobs),
        "blobBytes": sum(blob["size"] for blob in blobs),
    }
    description["files"] = {
        str(path.relative_to(folder)): _sha256_of(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    (folder / MANIFEST).write_text(json.dumps(description, indent=2))
    return description


def _copy_sqlite(source: str, destination: Path):
    """SQLite's online backup: a consistent copy while other connections write."""
    with sqlite3.connect(source, timeout=60) as live, sqlite3.connect(destination) as copy:
        live.backup(copy)
    copy.close()
    live.close()


def _sqlite_blobs(path: Path) -> list:
    with sqlite3.connect(path) as copy:
        rows = copy.execute("SELECT digest, size FROM blobs ORDER BY digest").fetchall()
    copy.close()
    return [{"digest": digest, "size": size} for digest, size in rows]


def _dump_postgresql(destination: Path) -> list:
    """pg_dump of one snapshot, and the blobs that snapshot references: the snapshot is
    exported by a repeatable-read transaction that stays open while pg_dump reads it."""
    import psycopg

    url = _libpq_url()
    with psycopg.connect(url, autocommit=False) as connection:
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        snapshot = connection.execute("SELECT pg_export_snapshot()").fetchone()[0]
        rows = connection.execute("SELECT digest, size FROM blobs ORDER BY digest").fetchall()
        done = subprocess.run(
            [
                "pg_dump",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={destination}",
                "--dbname",
                url,
            ],
            capture_output=True,
            text=True,
        )
        connection.rollback()
    if done.returncode != 0:
        raise BackupFailed(f"pg_dump failed: {done.stderr.strip()[:500]}")
    return [{"digest": digest, "size": size} for digest, size in rows]


def _libpq_url() -> str:
    """The database's URL as pg_dump, psql and psycopg take it (no SQLAlchemy driver name)."""
    return db.engine.url.render_as_string(hide_password=False).replace("+psycopg", "")


def _copy_blobs_out(blobs, folder: Path, progress):
    storage = current_storage()
    copied = 0
    for blob in blobs:
        path = folder / blob_path(blob["digest"])
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with storage.reader(blob_path(blob["digest"])) as source, open(path, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
        except PathNotFound:
            raise BackupFailed(
                f"blob {blob['digest']} is referenced but missing from the storage "
                "(`python app.py storage verify` lists such blobs)"
            ) from None
        copied += 1
        if copied % 1000 == 0:
            progress(f"{copied} of {len(blobs)} blobs copied")
    progress(f"{copied} blobs copied")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


# --- verify -------------------------------------------------------------------------------


@contextmanager
def opened_backup(source: str):
    """The backup's folder (a .tar.gz is extracted to a temporary folder first)."""
    path = Path(source)
    if not path.exists():
        raise BackupFailed(f"{source} does not exist")
    if path.is_dir():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="dtr-restore-") as temporary:
        try:
            with tarfile.open(path, "r:*") as tar:
                tar.extractall(temporary, filter="data")  # no links out, no absolute paths
        except (tarfile.TarError, OSError) as error:
            raise BackupFailed(f"{source} is not a readable .tar.gz: {error}") from None
        found = [entry for entry in Path(temporary).iterdir() if (entry / MANIFEST).exists()]
        if not found:
            raise BackupFailed(f"{source} holds no {MANIFEST}")
        yield found[0]


def verify_backup(folder: Path) -> tuple[dict, list]:
    """(the backup's description, the problems found): every file's hash, the database
    copy, and each included blob's content against its digest."""
    try:
        description = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise BackupFailed(f"{folder} is not a DTR backup: {MANIFEST}: {error}") from None
    if description.get("format") != FORMAT:
        raise BackupFailed(f"backup format {description.get('format')!r} is not {FORMAT}")
    problems = []
    listed = description.get("files", {})
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    for name in sorted(present - set(listed) - {MANIFEST}):
        problems.append(f"{name}: not in the backup's list of files")
    for name, expected in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif _sha256_of(path) != expected:
            problems.append(f"{name}: its content changed since the backup was made")
    if description.get("database") == "sqlite" and (folder / "database.sqlite").is_file():
        with sqlite3.connect(folder / "database.sqlite") as copy:
            try:
                result = copy.execute("PRAGMA integrity_check").fetchone()[0]
            except sqlite3.DatabaseError as error:
                result = str(error)
        copy.close()
        if result != "ok":
            problems.append(f"database.sqlite: not a sound SQLite database ({result})")
    if description.get("blobsIncluded") and not problems:  # blobs.json is then sound
        for blob in json.loads((folder / "blobs.json").read_text()):
            path = folder / blob_path(blob["digest"])
            if path.is_file() and _sha256_of(path) != blob["digest"]:
                problems.append(f"{blob_path(blob['digest'])}: does not hash to its digest")
    return description, problems


# --- restore ------------------------------------------------------------------------------


def restore_database(folder: Path, description: dict):
    """Put the backup's database in place of the (empty) one of this instance."""
    kind = db.engine.url.get_backend_name()
    if description["database"] != kind:
        raise BackupFailed(
            f"this backup holds a {description['database']} database; this instance uses "
            f"{kind}: restore it into a {description['database']} instance"
        )
    db.session.remove()
    db.engine.dispose()
    if kind == "sqlite":
        target = Path(db.engine.url.database)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(folder / "database.sqlite", target)
    else:
        url = _libpq_url()
        done = subprocess.run(
            [
                "psql",
                "--quiet",
                "--no-psqlrc",
                "--set=ON_ERROR_STOP=1",
                "--single-transaction",
                f"--file={folder / 'database.sql'}",
                url,
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise BackupFailed(f"psql failed: {done.stderr.strip()[:500]}")


def restore_instance_files(folder: Path):
    instance = Path(current_app.instance_path)
    source = folder / "instance"
    if source.is_dir():
        shutil.copytree(source, instance, dirs_exist_ok=True)


def restore_blobs(folder: Path, description: dict, progress=print) -> list:
    """Copy the included blobs into the storage in force (as the restored settings name
    it); without them, check that the storage has each. Returns the digests missing."""
    storage = current_storage()
    blobs = json.loads((folder / "blobs.json").read_text())
    missing = []
    for number, blob in enumerate(blobs, start=1):
        path = blob_path(blob["digest"])
        if description.get("blobsIncluded"):
            writer = storage.writer(path)
            try:
                with open(folder / path, "rb") as source:
                    for chunk in iter(lambda: source.read(CHUNK), b""):
                        writer.write(chunk)
                writer.commit()
            except BaseException:
                writer.cancel()
                raise
        elif storage.stat(path) != blob["size"]:
            missing.append(blob["digest"])
        if number % 1000 == 0:
            progress(f"{number} of {len(blobs)} blobs restored")
    return missing


def empty_instance_problem() -> str | None:
    """Why this instance cannot take a restore (None: it can)."""
    if database_revision() is not None:
        return "its database is not empty"
    storage_root = Path(current_app.config["STORAGE_ROOT"])
    if storage_root.is_dir() and any(storage_root.rglob("*")):
        return f"its storage folder {storage_root} is not empty"
    return None
