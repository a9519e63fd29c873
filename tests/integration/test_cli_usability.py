"""The command line as a person first meets it: `python app.py` alone prints DTR's help,
`--version` its version; run with a Python that lacks DTR's packages it names the one to use;
`serve` on an address in use says so at once; `create-user --password-stdin` at a terminal
asks for the password twice without echoing it; a fresh `serve` prints the create-user
command line, which works as printed."""

import os
import pty
import re
import select
import shlex
import socket
import subprocess
import sys
import time

import pytest
import requests

from dtr import __version__
from tests.support.server import ROOT, DTRProcess

SYSTEM_PYTHON = "/usr/bin/python3"
FLASK_OPTIONS = ("--debug", "-A, --app", "-e, --env-file", "--env-file", "FLASK_APP")


def app_py(*args, timeout=60, **options):
    return subprocess.run(
        [sys.executable, "app.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **options,
    )


def registry_login(server, user, password):
    """The status of GET /v2/ with these credentials (200: they work)."""
    return requests.get(f"{server.url}/v2/", auth=(user, password), timeout=30).status_code


def test_app_py_alone_prints_dtrs_help_not_flasks():
    alone = app_py()
    assert alone.returncode == 0, alone.stderr
    assert "Traceback" not in alone.stderr
    assert "DTR, a self-hosted container image registry" in alone.stdout
    for command in ("serve", "create-user", "create-repo", "gc", "storage", "db"):
        assert re.search(rf"^  {command}\b", alone.stdout, re.MULTILINE), command
    assert ".venv/bin/python app.py" in " ".join(alone.stdout.split())  # the Python to use
    for flask_option in FLASK_OPTIONS:
        assert flask_option not in alone.stdout, flask_option
    helped = app_py("--help")
    assert helped.returncode == 0 and helped.stdout == alone.stdout


def test_version():
    result = app_py("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"DTR {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", __version__)


def test_a_python_without_dtrs_packages_names_the_virtualenvs():
    unset = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    env = {key: value for key, value in os.environ.items() if key not in unset}
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip(f"{SYSTEM_PYTHON} does not exist here: no Python without the packages")
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import flask"], capture_output=True, env=env, timeout=30
    )
    if probe.returncode == 0:
        pytest.skip(f"{SYSTEM_PYTHON} has flask installed: it is not a Python without them")
    result = subprocess.run(
        [SYSTEM_PYTHON, "app.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert ".venv/bin/python app.py" in result.stderr
    assert "not installed" in result.stderr and SYSTEM_PYTHON in result.stderr


def test_serve_on_an_address_in_use_fails_at_once(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = app_py(
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--http",
            "--instance",
            str(tmp_path / "instance"),
            timeout=30,
        )
        elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 5, f"took {elapsed:.1f} s to refuse"
    assert f"127.0.0.1:{port} is in use" in result.stderr
    assert "--bind" in result.stderr  # says how to serve elsewhere
    assert "Traceback" not in result.stderr
    assert "DTR serving" not in result.stdout


def read_until(fd, wanted, output, timeout=30):
    """Read the terminal's output into `output` (a bytearray) until it holds `wanted`."""
    deadline = time.monotonic() + timeout
    while wanted not in output:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {wanted!r} in {bytes(output)!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other end is closed
                chunk = b""
            assert chunk, f"ended without {wanted!r}: {bytes(output)!r}"
            output += chunk


def read_to_the_end(fd, output, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return
        if not chunk:
            return
        output += chunk
    raise AssertionError(f"still running: {bytes(output)!r}")


def test_create_user_at_a_terminal_asks_twice_without_echo(tmp_path):
    instance = tmp_path / "instance"
    password = "typed-at-a-terminal-1"
    command = [sys.executable, "app.py", "create-user", "admin", "--role", "admin"]
    command += ["--instance", str(instance), "--password-stdin"]
    server = DTRProcess(instance)  # started below, on the database the command wrote
    pid, terminal = pty.fork()  # the child's stdin, stdout, stderr and /dev/tty: a terminal
    if pid == 0:
        try:
            os.chdir(ROOT)
            os.execve(sys.executable, command, {**os.environ, **server.env})
        finally:
            os._exit(127)
    output = bytearray()
    try:
        read_until(terminal, b"Password: ", output)
        os.write(terminal, password.encode() + b"\n")
        read_until(terminal, b"Password again: ", output)
        os.write(terminal, password.encode() + b"\n")
        read_to_the_end(terminal, output)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(terminal)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "created user admin with role admin" in text
    assert password not in text  # the terminal did not echo what was typed
    assert text.index("Password: ") < text.index("Password again: ")

    server.start()
    try:
        assert registry_login(server, "admin", password) == 200
        assert registry_login(server, "admin", "not-the-password-1") == 401
    finally:
        server.stop()


def test_the_create_user_command_serve_prints_works_as_printed(tmp_path):
    server = DTRProcess(tmp_path / "instance").start()  # no user yet: not set up
    try:
        shown = [
            line.split("or on the command line:", 1)[1].strip()
            for line in server.log_text().splitlines()
            if "or on the command line:" in line
        ]
        assert len(shown) == 1, server.log_text()
        assert "Not set up yet: create the first admin" in server.log_text()
        printed = shown[0]
        python = os.path.relpath(sys.executable, ROOT)  # .venv/bin/python
        assert not python.startswith("..")
        assert printed.startswith(f"{python} app.py create-user admin --role admin ")
        assert printed.endswith(" --password-stdin")
        assert shlex.split(printed)[-3:-1] == ["--instance", str(server.instance)]
        password = "printed-command-1"
        assert registry_login(server, "admin", password) == 401
        result = subprocess.run(
            printed,
            shell=True,
            cwd=ROOT,
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **server.env},  # the server's DATABASE_URL, when it has one
        )
        assert result.returncode == 0, result.stderr
        assert "created user admin with role admin" in result.stdout
        # the running server lets the admin in (once its settings cache of at most 5 s,
        # which still says auth mode None, has expired)
        deadline = time.monotonic() + 15
        while registry_login(server, "admin", password) != 200:
            assert time.monotonic() < deadline, "the new admin cannot log in"
            time.sleep(0.5)
        me = requests.get(
            f"{server.url}/api/v0/accounts/admin", auth=("admin", password), timeout=30
        )
        assert me.status_code == 200 and me.json()["role"] == "admin", me.text
    finally:
        server.stop()


def test_import_users_creates_all_or_nobody(tmp_path):
    """`app.py import-users FILE`: a bad line creates nobody and names the line; a good file
    creates every user (the admin switching the auth mode to Managed), who can then log in."""
    server = DTRProcess(tmp_path / "instance")
    bad = tmp_path / "bad.csv"
    bad.write_text("username,password\nalice,alice-password-1,admin\nbob,short\n")
    refused = server.cli("import-users", str(bad))
    assert refused.returncode != 0
    assert "csv line 3" in refused.stderr and "nobody was created" in refused.stderr
    good = tmp_path / "good.csv"
    good.write_text("alice,alice-password-1,admin\nbob,bob-password-12\n")
    created = server.cli("import-users", str(good))
    assert created.returncode == 0, created.stderr
    assert "created 2 users: alice, bob" in created.stdout
    server.start()
    try:
        for user, password in (("alice", "alice-password-1"), ("bob", "bob-password-12")):
            me = requests.get(f"{server.url}/api/v0/accounts/{user}", auth=(user, password))
            assert me.status_code == 200, me.text
        mode = requests.get(
            f"{server.url}/api/v0/admin/settings/auth", auth=("alice", "alice-password-1")
        )
        assert mode.json()["mode"] == "managed"
    finally:
        server.stop()
