"""Shared fixtures: a DTR server under its production WSGI server, with users of each role."""

import itertools

import pytest

from tests.support.client import RegistryClient
from tests.support.server import USERS, DTRProcess
from tests.support.slapd import Slapd

# Fixtures of servers that tests start (storage backends): one module each in tests/support/;
# the browser (Playwright + Chromium) of tests/ui and tests/e2e.
pytest_plugins = [
    "tests.support.moto_server",
    "tests.support.azurite",
    "tests.support.swift_aio",
    "tests.support.browser",
]

_names = itertools.count()


@pytest.fixture(scope="session")
def dtr(tmp_path_factory):
    """One running DTR (plain HTTP on loopback) with users admin, writer, reader, nobody."""
    server = DTRProcess(tmp_path_factory.mktemp("dtr") / "instance")
    server.create_users()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client_for(dtr):
    def make(user=None):
        password = USERS[user][0] if user else None
        return RegistryClient(dtr.url, user, password)

    return make


@pytest.fixture
def admin(client_for):
    return client_for("admin")


@pytest.fixture
def repo(dtr):
    """A new private repository in the admin's namespace."""
    name = f"admin/repo{next(_names)}"
    result = dtr.cli("create-repo", name)
    assert result.returncode == 0, result.stderr
    return name


@pytest.fixture
def public_repo(dtr):
    name = f"admin/public{next(_names)}"
    result = dtr.cli("create-repo", name, "--public")
    assert result.returncode == 0, result.stderr
    return name


@pytest.fixture(scope="session")
def slapd(tmp_path_factory):
    """A real, private slapd on loopback, seeded with the scenario's people and groups."""
    server = Slapd(tmp_path_factory.mktemp("slapd")).start()
    yield server
    server.stop()
