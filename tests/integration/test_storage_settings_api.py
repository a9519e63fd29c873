"""Settings > Storage through /api/v0: the backend in force and its options, the connection
test (what the storage said when it fails), saving (refused when the test fails, live at
once when it passes), secrets never shown back, and the audit log. Real servers: moto,
Azurite, Swift."""

import base64
import os
import time

import pytest
import requests

from tests.support.client import RegistryClient
from tests.support.images import sha256
from tests.support.server import USERS, DTRProcess, free_port
from tests.support.storage_backends import (
    BACKENDS,
    new_storage,
    set_storage,
    storage_api,
    stored_blob_digests,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = DTRProcess(tmp_path_factory.mktemp("storage-api") / "instance")
    process.create_users()
    process.cli("create-repo", "admin/stored")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def filesystem_after(server):
    """The test changes the storage: back to the instance's filesystem afterwards."""
    yield
    default = {"backend": "filesystem", "options": {"rootDirectory": str(_default_root(server))}}
    set_storage(server, default)


def _default_root(server):
    return (server.instance / "storage").resolve()


def test_default_is_the_instance_folder_and_every_backend_is_described(server):
    response = storage_api(server, "GET")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["backend"] == "filesystem"
    assert body["options"] == {"rootDirectory": str(_default_root(server))}
    assert body["secrets"] == {}
    assert list(body["fields"]) == list(BACKENDS)
    for backend, fields in body["fields"].items():
        assert fields, backend
        for field in fields:
            assert set(field) == {"name", "label", "kind", "required", "default", "help"}
            assert field["kind"] in ("text", "secret", "bool", "int")
    s3 = {field["name"]: field for field in body["fields"]["s3"]}
    assert s3["bucket"]["required"] and s3["secretKey"]["kind"] == "secret"
    assert s3["redirect"]["kind"] == "bool"
    assert body["migrateCommand"].startswith("python app.py storage migrate --to")


@pytest.mark.parametrize("user,status", [("writer", 403), ("reader", 403), (None, 401)])
def test_only_admins(server, user, status):
    for method, path in (("GET", ""), ("PUT", ""), ("POST", "/test")):
        body = {"backend": "filesystem", "options": {"rootDirectory": "/tmp/x"}}
        response = storage_api(server, method, path, user=user, json=body)
        assert response.status_code == status, (method, path, response.text)


@pytest.mark.parametrize(
    "body, message",
    [
        ({"backend": "nfs", "options": {}}, "backend: one of filesystem, s3, azure, swift"),
        ({"backend": "s3", "options": {"bucket": "ok-name", "colour": 1}}, "unknown storage"),
        ({"backend": "s3", "options": {"bucket": "ok-name", "partSizeMiB": "8"}}, "must be a"),
        ({"backend": "s3", "options": {}}, "Bucket (bucket) is required"),
        ({"backend": "s3", "options": {"bucket": "Not_A_Bucket"}}, "not a valid S3 bucket"),
        ({"backend": "filesystem", "options": {"rootDirectory": "relative"}}, "absolute path"),
        ({"backend": "swift", "options": []}, "options: an object"),
        ({"backend": "filesystem", "colour": "red"}, "colour: unknown field"),
    ],
)
def test_invalid_options_are_refused_with_the_reason(server, body, message):
    for method, path in (("POST", "/test"), ("PUT", "")):
        response = storage_api(server, method, path, json=body)
        assert response.status_code == 400, response.text
        error = response.json()["errors"][0]
        assert error["code"] == "INVALID_INPUT"
        assert message in error["message"], error["message"]
    assert storage_api(server, "GET").json()["backend"] == "filesystem"


def test_connection_test_passes_on_every_backend(server, request, tmp_path):
    for backend in BACKENDS:
        config = new_storage(request, backend, tmp_path)
        response = storage_api(server, "POST", "/test", json=config)
        assert response.status_code == 200, response.text
        assert response.json()["ok"] is True, (backend, response.json())
        assert "read back and deleted a probe object" in response.json()["message"]
        assert stored_blob_digests(config) == set()
    assert storage_api(server, "GET").json()["backend"] == "filesystem"  # nothing saved


def _wrong_key():
    return base64.b64encode(os.urandom(64)).decode()


def _failing_configs(request, tmp_path):
    """(name, config, words the message must contain)."""
    moto = request.getfixturevalue("moto_server")
    s3 = new_storage(request, "s3", tmp_path)
    azure = new_storage(request, "azure", tmp_path)
    swift = new_storage(request, "swift", tmp_path)
    return [
        (
            "s3 missing bucket",
            {**s3, "options": {**s3["options"], "bucket": "no-such-bucket"}},
            ["'no-such-bucket'", "does not exist"],
        ),
        (
            "s3 unreachable",
            {**s3, "options": {**s3["options"], "endpointUrl": f"http://127.0.0.1:{free_port()}"}},
            ["cannot reach", "check endpointUrl"],
        ),
        ("s3 wrong keys", s3, ["rejected the credentials", "check accessKey and secretKey"]),
        (
            "azure wrong key",
            {**azure, "options": {**azure["options"], "accountKey": _wrong_key()}},
            ["rejected the credentials", "check the account key"],
        ),
        (
            "azure missing container",
            {**azure, "options": {**azure["options"], "container": "no-such-container"}},
            ["the container does not exist"],
        ),
        (
            "swift wrong password",
            {**swift, "options": {**swift["options"], "password": "wrong"}},
            ["Swift rejected the credentials"],
        ),
        (
            "filesystem not writable",
            {"backend": "filesystem", "options": {"rootDirectory": "/proc/dtr-storage"}},
            ["cannot create or use the folder /proc/dtr-storage"],
        ),
    ], moto


def test_failing_connections_say_what_the_storage_said(server, request, tmp_path):
    configs, moto = _failing_configs(request, tmp_path)
    for name, config, words in configs:
        if name == "s3 wrong keys":
            moto.require_auth(True)  # only IAM users' keys from now on: "test" is unknown
        try:
            started = time.monotonic()
            tested = storage_api(server, "POST", "/test", json=config)
            saved = storage_api(server, "PUT", json=config)
        finally:
            moto.require_auth(False)
        assert tested.status_code == 200, (name, tested.text)
        assert tested.json()["ok"] is False, name
        for word in words:
            assert word in tested.json()["message"], (name, tested.json()["message"])
        assert time.monotonic() - started < 60, name
        assert saved.status_code == 400, (name, saved.text)
        message = saved.json()["errors"][0]["message"]
        assert message.startswith("the storage check failed, nothing was saved: "), message
        assert words[0] in message
        assert storage_api(server, "GET").json()["backend"] == "filesystem", name


def test_saving_switches_live_and_never_shows_secrets(server, request, tmp_path, filesystem_after):
    config = new_storage(request, "s3", tmp_path)
    secret = "s3cr3t-" + os.urandom(6).hex()
    moto = request.getfixturevalue("moto_server")
    config["options"]["secretKey"] = secret  # moto without auth accepts any secret
    response = storage_api(server, "PUT", json=config)
    assert response.status_code == 200, response.text
    assert secret not in response.text
    body = response.json()
    assert body["backend"] == "s3"
    assert body["secrets"] == {"secretKey": True}
    assert "secretKey" not in body["options"]
    assert body["options"]["bucket"] == config["options"]["bucket"]
    assert body["options"]["partSizeMiB"] == 5
    fetched = storage_api(server, "GET")
    assert secret not in fetched.text and fetched.json()["secrets"] == {"secretKey": True}

    # the very next push goes to the bucket: no restart
    client = RegistryClient(server.url, "admin", USERS["admin"][0])
    data = os.urandom(70_000)
    digest = client.push_blob("admin/stored", data)
    assert digest in stored_blob_digests(config)
    keys = [o["Key"] for o in moto.client().list_objects_v2(Bucket=config["options"]["bucket"])
            ["Contents"]]  # fmt: skip
    assert f"blobs/sha256/{digest[7:9]}/{digest[7:]}" in keys
    assert not list((_default_root(server) / "blobs").rglob(digest[7:]))
    assert client.request("GET", f"/v2/admin/stored/blobs/{digest}").content == data

    # a change without the secret keeps the stored one; null clears it
    kept = {**config, "options": {k: v for k, v in config["options"].items() if k != "secretKey"}}
    kept["options"]["partSizeMiB"] = 6
    response = storage_api(server, "PUT", json=kept)
    assert response.status_code == 200, response.text
    assert response.json()["secrets"] == {"secretKey": True}
    assert response.json()["options"]["partSizeMiB"] == 6
    cleared = {**kept, "options": {**kept["options"], "secretKey": None}}
    refused = storage_api(server, "POST", "/test", json=cleared)
    assert refused.status_code == 400
    assert "go together" in refused.json()["errors"][0]["message"]

    audit = requests.get(
        f"{server.url}/api/v0/admin/audit", auth=("admin", USERS["admin"][0]), timeout=10
    )
    assert secret not in audit.text
    events = [e for e in audit.json()["events"] if e["action"] == "settings.storage"]
    assert events[0]["actor"] == "admin" and events[0]["target"] == "s3"
    assert events[0]["detail"]["secretsChanged"] == []
    assert events[1]["detail"]["secretsChanged"] == ["secretKey"]
    assert events[1]["detail"]["secrets"] == {"secretKey": True}


def test_a_saved_backend_serves_registry_pulls_through_a_restart(server, request, tmp_path):
    """After a switch and a restart, the stored setting (not the config file) is in force."""
    config = new_storage(request, "azure", tmp_path)
    set_storage(server, config)
    try:
        client = RegistryClient(server.url, "admin", USERS["admin"][0])
        data = os.urandom(3 * 1024 * 1024 + 5)
        digest = client.push_blob("admin/stored", data)
        server.stop()
        server.start()
        assert storage_api(server, "GET").json()["backend"] == "azure"
        got = client.request("GET", f"/v2/admin/stored/blobs/{digest}")
        assert got.status_code == 200 and sha256(got.content) == digest
        assert digest in stored_blob_digests(config)
    finally:
        default = {
            "backend": "filesystem",
            "options": {"rootDirectory": str(_default_root(server))},
        }
        set_storage(server, default)
