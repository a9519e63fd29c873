"""A real, private PostgreSQL cluster for tests (Debian's `postgresql` package).

`Postgres().start()` runs `initdb` in a fresh temporary folder and `postgres` on a free
loopback port, as an unprivileged OS user (`postgres` when the tests run as root: the server
refuses to run as root), with password-less (`trust`) logins from loopback only. Nothing of
the system's cluster (/etc/postgresql, /var/lib/postgresql, its service) is used or touched.
`new_database()` creates an empty database and returns its `postgresql://` URL.

Durability is turned off (fsync, synchronous commit): the tests check DTR's behaviour, not
the disk's, and a test cluster that loses its data in a power cut loses nothing of value.
"""

import atexit
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.server import free_port

_databases = itertools.count()


def _binary(name) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found: apt-get install postgresql")
    return found[-1]  # the newest major version installed


class Postgres:
    def __init__(self, max_connections=400):
        self.port = free_port()
        self.max_connections = max_connections
        self.folder = Path(tempfile.mkdtemp(prefix="dtr-postgres-"))
        self.data = self.folder / "data"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.process = None

    def _run_as_owner(self, args, **options):
        if self.user is not None:
            args = ["runuser", "-u", self.user, "--", *args]
        return subprocess.run(args, capture_output=True, text=True, timeout=120, **options)

    def start(self):
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        initdb = self._run_as_owner(
            [
                _binary("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr}")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.folder}'",
            "max_connections": str(self.max_connections),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "128MB",
            "logging_collector": "off",
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self.log = open(self.folder / "postgres.log", "ab")
        command = [_binary("postgres"), "-D", str(self.data)]
        owner = {}
        if self.user is not None:  # the server itself, not runuser, so that stop() signals it
            entry = pwd.getpwnam(self.user)
            owner = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, **owner)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited: {self.log_text()}")
            ready = subprocess.run(
                [_binary("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
            )
            if ready.returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start: {self.log_text()}")

    def url(self, database="postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql, database="postgres"):
        """Run SQL with psql; its output (tuples only, unaligned)."""
        result = subprocess.run(
            [
                _binary("psql"),
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
                self.url(database),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout

    def new_database(self, prefix="dtr") -> str:
        name = f"{prefix}_{os.getpid()}_{next(_databases)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_text(self):
        self.log.flush()
        return (self.folder / "postgres.log").read_text(errors="replace")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: clients disconnected
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None) is not None:
            self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_shared = None


def test_database_url():
    """A new, empty PostgreSQL database for one DTR instance when the tests run with
    DTR_TEST_DATABASE=postgresql (one private cluster for the whole run, started at the
    first call); None otherwise (the instance's SQLite file)."""
    global _shared
    if os.environ.get("DTR_TEST_DATABASE", "sqlite") != "postgresql":
        return None
    if _shared is None:
        _shared = Postgres().start()
        atexit.register(_shared.stop)
    return _shared.new_database()
