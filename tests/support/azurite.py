"""A real Azurite (Azure Blob storage emulator, from npm: node_modules/.bin/azurite-blob) for the
Azure storage driver tests.

`azurite_server` (session): one Azurite on a free loopback port, its data in a temporary folder,
serving the well-known development account. `azure_driver` (function): an AzureDriver on a
fresh container, with 1 MiB blocks so that tests exercise many blocks; the container is deleted
afterwards.
"""

import itertools
import shutil
from pathlib import Path

import pytest
import requests
from azure.storage.blob import BlobServiceClient

from dtr.storage.azure import from_settings
from tests.support.child_server import ChildServer
from tests.support.server import free_port

AZURITE = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "azurite-blob"
# The development account every Azurite serves (published in Azure's documentation).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

_containers = itertools.count()


class Azurite(ChildServer):
    """A private Azurite blob service: `url` is the development account's blob endpoint."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/{ACCOUNT_NAME}"
        self.connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};"
            f"AccountKey={ACCOUNT_KEY};BlobEndpoint={self.url};"
        )
        self.log_path = self.folder / "azurite.log"

    def start(self, timeout=30):
        if not AZURITE.exists():
            raise RuntimeError(f"{AZURITE} is missing: run `npm ci` (make install-dev)")
        self.spawn(
            [
                str(AZURITE),
                *("--blobHost", "127.0.0.1", "--blobPort", str(self.port)),
                *("--location", str(self.folder / "data")),
                "--loose",  # ignore headers Azurite does not know
                "--skipApiVersionCheck",  # the SDK may speak a newer API version
                "--disableTelemetry",
            ],
            self.log_path,
        )
        return self.wait_until_answering(
            "azurite",
            lambda: requests.get(f"{self.url}?comp=list", timeout=1) is not None,  # any answer
            timeout,
            errors=(requests.ConnectionError,),
        )

    def service(self):
        return BlobServiceClient.from_connection_string(self.connection_string)

    def new_container(self):
        """The name of a new, empty container."""
        name = f"test{next(_containers)}"
        self.service().create_container(name)
        return name

    def options(self, container, **overrides):
        """Driver options (as the settings hold them) for a container of this Azurite."""
        return {
            "accountName": ACCOUNT_NAME,
            "accountKey": ACCOUNT_KEY,
            "endpointUrl": self.url,
            "container": container,
            "blockSizeMiB": 1,
            **overrides,
        }


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory):
    server = Azurite(tmp_path_factory.mktemp("azurite")).start()
    yield server
    server.stop()
    shutil.rmtree(server.folder / "data", ignore_errors=True)  # a GiB after the big-blob test


@pytest.fixture
def azure_container(azurite_server):
    """A fresh container, deleted (with its blobs) after the test."""
    name = azurite_server.new_container()
    yield name
    azurite_server.service().delete_container(name)


@pytest.fixture
def azure_driver(azurite_server, azure_container):
    return from_settings(azurite_server.options(azure_container))
