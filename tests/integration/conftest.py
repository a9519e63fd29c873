"""Fixtures of the integration tests that several modules share."""

import pytest

from tests.integration.test_api import Api
from tests.support.client import RegistryClient
from tests.support.postgres import Postgres
from tests.support.server import USERS


@pytest.fixture
def api(dtr):
    """An /api/v0 client per test user (tests/support/server.py USERS)."""
    return {name: Api(dtr.url, name, password) for name, (password, _) in USERS.items()}


@pytest.fixture
def registry(dtr):
    """A /v2 registry client per test user."""
    return {name: RegistryClient(dtr.url, name, password) for name, (password, _) in USERS.items()}


@pytest.fixture(scope="module")
def private_postgres():
    """A PostgreSQL cluster of the module's own."""
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_database(request, tmp_path_factory):
    """(a folder, the URL of a database for several DTR processes to share): a SQLite file,
    then a PostgreSQL database."""
    folder = tmp_path_factory.mktemp(f"shared-{request.param}")
    if request.param == "sqlite":
        return folder, f"sqlite:///{folder / 'shared.db'}"
    return folder, request.getfixturevalue("private_postgres").new_database()
