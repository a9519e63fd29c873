"""Start DTR for tests: `python app.py serve` (gunicorn) in a fresh instance folder."""

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
# The login throttle's limits for servers shared by many tests, whose wrong passwords on
# purpose (all from 127.0.0.1) would otherwise lock each other out; the throttle itself is
# tested with its defaults (DTRProcess(..., throttle=True): test_login_security.py).
RELAXED_THROTTLE = {
    "DTR_LOGIN_NAME_FREE_FAILURES": "1000000",
    "DTR_LOGIN_ADDRESS_FREE_FAILURES": "1000000",
}
# Deleted tags are not kept for restoring (DTR_TAG_RESTORE_DAYS 0), so that garbage
# collection collects what a test untagged; tests/integration/test_tag_restore.py and
# test_retention.py run with the default window (14 days).
NO_RESTORE_WINDOW = {"DTR_TAG_RESTORE_DAYS": "0"}
USERS = {  # name: (password, global role)
    "admin": ("admin-password-1", "admin"),
    "writer": ("writer-password-1", "read-write"),
    "reader": ("reader-password-1", "read-only"),
    "nobody": ("nobody-password-1", "none"),
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(instance, *args, stdin=None, env=None):
    return subprocess.run(
        [sys.executable, "app.py", *args, "--instance", str(instance)],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def stop_process(process, log=None, wait=15):
    """Terminate a started server process (killed after `wait` seconds) and close its log."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if log is not None:
        log.close()


class DTRProcess:
    """A DTR server process; `url` is its base URL."""

    def __init__(
        self, instance, http=True, env=None, throttle=False, database_url=None, serve_args=()
    ):
        from tests.support.postgres import test_database_url

        self.instance = Path(instance)
        # None: SQLite in the instance folder (unless DTR_TEST_DATABASE=postgresql)
        self.database_url = database_url or test_database_url()
        self.port = free_port()
        self.scheme = "http" if http else "https"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.env = {**NO_RESTORE_WINDOW, **({} if throttle else RELAXED_THROTTLE), **(env or {})}
        if self.database_url:
            self.env["DATABASE_URL"] = self.database_url
        self.http = http
        self.serve_args = list(serve_args)  # more options of `serve` (--metrics-bind ...)
        self.process = None

    def create_users(self, users=USERS):
        """The users, by one `import-users` (a command line start costs seconds)."""
        lines = "".join(f"{name},{password},{role}\n" for name, (password, role) in users.items())
        result = run_cli(self.instance, "import-users", "-", stdin=lines, env=self.env)
        assert result.returncode == 0, result.stderr

    def start(self):
        args = [
            sys.executable,
            "app.py",
            "serve",
            "--bind",
            self.host,
            "--instance",
            str(self.instance),
        ]
        if self.http:
            args.append("--http")
        args += self.serve_args
        self.log = open(self.instance.parent / f"dtr-{self.port}.log", "ab")
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"DTR exited: {self.log_text()}")
            try:
                requests.get(f"{self.url}/health", timeout=1, verify=False)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"DTR did not start: {self.log_text()}")

    def log_text(self):
        self.log.flush()
        return (self.instance.parent / f"dtr-{self.port}.log").read_text(errors="replace")

    def stop(self):
        stop_process(self.process, getattr(self, "log", None))

    def sql(self, statement, parameters=()):
        """Run one SQL statement on the instance's database, as a hand edit would (qmark
        parameters: `?`); its rows (none for a statement that returns none)."""
        if self.database_url is None or self.database_url.startswith("sqlite:///"):
            path = self.instance / "dtr.db"
            if self.database_url is not None:
                path = self.database_url.removeprefix("sqlite:///")
            with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
                with db:
                    return db.execute(statement, parameters).fetchall()
        import psycopg

        with psycopg.connect(self.database_url) as connection:
            statement = statement.replace("%", "%%").replace("?", "%s")  # qmark -> format
            cursor = connection.execute(statement, parameters)
            return cursor.fetchall() if cursor.description else []

    def cli(self, *args, stdin=None):
        return run_cli(self.instance, *args, stdin=stdin, env=self.env)


@contextlib.contextmanager
def running_dtr(instance, repositories=(), **options):
    """A started DTRProcess (options as DTRProcess takes them) with the USERS and these
    repositories; stopped at the end."""
    process = DTRProcess(instance, **options)
    process.create_users()
    for name in repositories:
        result = process.cli("create-repo", name)
        assert result.returncode == 0, result.stderr
    process.start()
    try:
        yield process
    finally:
        process.stop()
