"""A real S3 API for tests: moto's server (`python -m moto.server`) on a free loopback port.

`moto_server` runs once per session; `s3_driver` resets it (every bucket and IAM user gone,
authentication off) and yields an S3Driver on a fresh bucket, with 5 MiB parts so that
multipart uploads happen with little data. moto keeps objects in its own process (spooled
to temporary files) and enforces S3's 5 MiB minimum part size like S3 does.
"""

import os
import sys

import boto3
import pytest
import requests

from dtr.storage.s3 import S3Driver
from tests.support.child_server import ChildServer
from tests.support.server import free_port

BUCKET = "dtr-test"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


class MotoServer(ChildServer):
    def __init__(self, folder):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "moto.log"

    def start(self, timeout=30):
        self.spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            self.log_path,
        )
        return self.wait_until_answering(
            "moto_server",
            lambda: requests.get(f"{self.url}/moto-api/data.json", timeout=1).ok,
            timeout,
            interval=0.1,
            errors=(requests.RequestException,),
        )

    def reset(self):
        """Forget every bucket, object and IAM user; requests need no credentials again."""
        self.require_auth(False)
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def require_auth(self, required=True):
        """From now on, only keys of IAM users (see `client("iam")`) are accepted."""
        count = "0" if required else "inf"
        requests.post(f"{self.url}/moto-api/reset-auth", data=count, timeout=10).raise_for_status()

    def client(self, service="s3", **credentials):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            **(credentials or CREDENTIALS),
        )

    def driver_options(self, **overrides):
        return {
            "bucket": BUCKET,
            "region": "us-east-1",
            "endpointUrl": self.url,
            "accessKey": CREDENTIALS["aws_access_key_id"],
            "secretKey": CREDENTIALS["aws_secret_access_key"],
            "pathStyle": True,
            "partSizeMiB": 5,
            **overrides,
        }


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    # Drivers without keys must never look for an EC2 instance role off this machine.
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_driver(moto_server):
    """An S3Driver on a new, empty bucket (5 MiB parts)."""
    moto_server.reset()
    moto_server.client().create_bucket(Bucket=BUCKET)
    return S3Driver(moto_server.driver_options())
