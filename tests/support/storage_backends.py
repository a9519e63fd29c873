"""Storage configurations on the test servers of every backend, for tests that give DTR its
storage through the API (PUT /api/v0/admin/settings/storage) as an admin would.

`new_storage(request, backend, tmp_path)` makes a fresh, empty place on the backend's test
server (a bucket on moto, a container on Azurite or Swift, a folder for the filesystem) and
returns the body of the PUT. The servers come from the fixtures of tests/support/moto_server.py,
azurite.py and swift_aio.py, started on first use.
"""

import contextlib
import itertools

import requests

from dtr.storage import create_driver
from tests.support.server import USERS
from tests.support.swift_aio import swift_options

BACKENDS = ("filesystem", "s3", "azure", "swift")
REMOTE_BACKENDS = ("s3", "azure", "swift")
SETTINGS = "/api/v0/admin/settings/storage"
_names = itertools.count()


def new_storage(request, backend, tmp_path) -> dict:
    """{"backend", "options"} of a new, empty storage place on the backend's test server."""
    number = next(_names)
    if backend == "filesystem":
        options = {"rootDirectory": str(tmp_path / f"storage{number}")}
    elif backend == "s3":
        moto = request.getfixturevalue("moto_server")
        bucket = f"dtr-storage-{number}"
        moto.client().create_bucket(Bucket=bucket)
        options = moto.driver_options(bucket=bucket)
    elif backend == "azure":
        azurite = request.getfixturevalue("azurite_server")
        options = azurite.options(azurite.new_container())
    elif backend == "swift":
        swift = request.getfixturevalue("swift_server")
        options = swift_options(swift, swift.new_container_name())
    else:
        raise ValueError(backend)
    return {"backend": backend, "options": options}


def driver_of(config):
    """A driver of its own on the same storage, to look at what DTR stored."""
    return create_driver(config["backend"], config["options"])


@contextlib.contextmanager
def open_driver(config):
    """`driver_of(config)`, closed at the end (the drivers that keep connections)."""
    driver = driver_of(config)
    try:
        yield driver
    finally:
        getattr(driver, "close", lambda: None)()


def stored_blob_digests(config) -> set:
    """Digests of the blobs stored under blobs/ on the storage of `config`."""
    with open_driver(config) as driver:
        return {
            f"{path.split('/')[1]}:{path.split('/')[3]}"
            for path in driver.list("blobs")
            if path.count("/") == 3
        }


def storage_api(server, method, path="", user="admin", **kwargs):
    auth = (user, USERS[user][0]) if user else None
    return requests.request(
        method, server.url + SETTINGS + path, auth=auth, verify=False, timeout=120, **kwargs
    )


def set_storage(server, config):
    """Make `config` DTR's storage through the API (it applies at once)."""
    response = storage_api(server, "PUT", json=config)
    assert response.status_code == 200, response.text
    assert response.json()["backend"] == config["backend"]
    return response.json()
