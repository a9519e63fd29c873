"""The `driver` fixture: one fresh, empty driver per test, for every storage backend.

A backend joins the conformance suite by adding the name of a fixture that yields an empty
driver to DRIVER_FIXTURES (its server fixture lives in tests/support/ and is loaded through
`pytest_plugins` in tests/conftest.py).
"""

import pytest

from dtr.storage import FilesystemDriver

DRIVER_FIXTURES = ["filesystem_driver", "s3_driver", "azure_driver", "swift_driver"]


@pytest.fixture
def filesystem_driver(tmp_path):
    return FilesystemDriver(tmp_path / "root")


@pytest.fixture(params=DRIVER_FIXTURES)
def driver(request):
    return request.getfixturevalue(request.param)
