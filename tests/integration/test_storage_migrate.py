"""`python app.py storage migrate --to CONFIG.json [--switch]`: every blob copied from the
storage in force to another backend, resumable after an interruption, each digest verified
(a damaged source blob is refused), then the switch, while DTR serves: filesystem -> S3 on
moto, and back to a filesystem folder."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.support.client import RegistryClient
from tests.support.images import sha256
from tests.support.server import ROOT, USERS, DTRProcess
from tests.support.storage_backends import driver_of, new_storage, storage_api

REPO = "admin/migrated"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("migrate") / "instance")
    process.create_users()
    process.cli("create-repo", REPO)
    process.start()
    yield process
    process.stop()


def migrate_command(server, config_file, *options):
    return [
        sys.executable,
        "app.py",
        "storage",
        "migrate",
        "--to",
        str(config_file),
        *options,
        "--instance",
        str(server.instance),
    ]


def migrate(server, config_file, *options):
    return subprocess.run(
        migrate_command(server, config_file, *options),
        cwd=ROOT,
        env={**os.environ, **server.env},  # the server's database
        capture_output=True,
        text=True,
        timeout=300,
    )


def write_config(tmp_path, config, name):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


def content_on(config, digests):
    """{digest: sha256 of the bytes stored at the blob's path} on the storage of `config`."""
    driver = driver_of(config)
    found = {}
    for digest in digests:
        path = f"blobs/sha256/{digest[7:9]}/{digest[7:]}"
        if driver.stat(path) is not None:
            with driver.reader(path) as reader:
                found[digest] = sha256(b"".join(iter(lambda: reader.read(MIB), b"")))
    return found


def wait_for_backend(server, client, backend, digest, timeout=15):
    """The server's worker notices a switch by the CLI within seconds: wait until a pull
    comes from the new backend."""
    deadline = time.monotonic() + timeout
    while True:
        current = storage_api(server, "GET").json()["backend"]
        response = client.request("GET", f"/v2/{REPO}/blobs/{digest}")
        if current == backend and response.status_code == 200:
            return response
        assert time.monotonic() < deadline, (current, response.status_code, response.text[:200])
        time.sleep(0.5)


def test_filesystem_to_s3_interrupted_resumed_verified_switched_and_back(server, request, tmp_path):
    client = RegistryClient(server.url, "admin", USERS["admin"][0])
    blobs = {client.push_blob(REPO, data): data for data in _contents()}
    source_root = server.instance / "storage"
    s3 = new_storage(request, "s3", tmp_path)
    s3_file = write_config(tmp_path, s3, "s3")

    # interrupted: killed after its fourth copied blob (one at a time)
    process = subprocess.Popen(
        migrate_command(server, s3_file, "--jobs", "1"),
        cwd=ROOT,
        env={**os.environ, **server.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    copied_before = []
    for line in process.stdout:
        if " copied " in line:
            copied_before.append(re.search(r"sha256:[0-9a-f]{64}", line)[0])
            if len(copied_before) == 4:
                process.send_signal(signal.SIGKILL)
                break
    process.wait(30)
    process.stdout.close()
    on_s3 = content_on(s3, blobs)
    assert set(copied_before) <= set(on_s3) and len(on_s3) < len(blobs)
    assert all(on_s3[digest] == digest for digest in on_s3)  # whole or absent, never partial

    # a damaged source blob is refused, the others are copied; nothing switches
    damaged = client.push_blob(REPO, os.urandom(200_000))
    damaged_file = source_root / "blobs" / "sha256" / damaged[7:9] / damaged[7:]
    original = damaged_file.read_bytes()
    damaged_file.write_bytes(b"X" + original[1:])
    resumed = migrate(server, s3_file)
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert f"FAILED  {damaged}: the source's 200000 bytes hash to sha256:" in resumed.stdout
    assert f"{len(on_s3)} already there, 1 failed" in resumed.stdout, resumed.stdout
    assert "not every blob was copied" in resumed.stdout
    assert content_on(s3, [damaged]) == {}
    assert content_on(s3, blobs) == {digest: digest for digest in blobs}
    assert storage_api(server, "GET").json()["backend"] == "filesystem"

    # repaired: the last run copies only that blob, then switches; DTR serves from S3
    damaged_file.write_bytes(original)
    blobs[damaged] = original
    switched = migrate(server, s3_file, "--switch")
    assert switched.returncode == 0, switched.stdout + switched.stderr
    assert f"1 copied (0.2 MiB), {len(blobs) - 1} already there, 0 failed" in switched.stdout
    assert "switched: the registry now stores and serves blobs on s3" in switched.stdout
    served = wait_for_backend(server, client, "s3", damaged)
    assert served.content == original
    shutil.rmtree(source_root / "blobs")  # what DTR serves now comes from S3
    for digest, data in blobs.items():
        assert client.request("GET", f"/v2/{REPO}/blobs/{digest}").content == data
    new_data = os.urandom(1000)
    new_blob = client.push_blob(REPO, new_data)
    assert content_on(s3, [new_blob]) == {new_blob: new_blob}
    blobs[new_blob] = new_data

    # back to a filesystem folder; a truncated copy left there is copied again
    back = {"backend": "filesystem", "options": {"rootDirectory": str(tmp_path / "back")}}
    back_file = write_config(tmp_path, back, "back")
    first = migrate(server, back_file)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{len(blobs)} copied" in first.stdout
    some = next(digest for digest, data in blobs.items() if len(data) == 300_000)
    truncated = tmp_path / "back" / "blobs" / "sha256" / some[7:9] / some[7:]
    truncated.write_bytes(truncated.read_bytes()[:10])
    again = migrate(server, back_file, "--switch")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 copied (0.3 MiB)" in again.stdout
    assert f"{len(blobs) - 1} already there" in again.stdout
    wait_for_backend(server, client, "filesystem", some)
    assert content_on(back, blobs) == {digest: digest for digest in blobs}
    same = migrate(server, back_file)
    assert same.returncode == 1
    assert "the target is the storage in force already" in same.stderr


def _contents():
    """Blobs of several sizes: tiny, a few S3 parts (5 MiB parts on moto), and others."""
    sizes = [0, 1, 1000, 6 * MIB + 3, 300_000, 2 * MIB, 70_000, 5, 123_456, 40_000]
    return [os.urandom(size) for size in sizes]
