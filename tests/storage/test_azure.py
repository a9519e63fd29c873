"""Checks specific to the Azure Blob driver, against a real Azurite (tests/support/azurite.py);
the generic behaviour is in test_driver_conformance.py."""

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from azure.storage.blob import ContainerSasPermissions, ExponentialRetry, generate_container_sas

from dtr.storage import PathNotFound, StorageError, azure
from dtr.storage.azure import MAX_BLOCKS, MIB, block_size_at, from_settings, max_blob_size
from tests.support.azurite import ACCOUNT_KEY, ACCOUNT_NAME
from tests.support.server import free_port

GIB = 1024 * MIB
FAST_RETRY = {"initial_backoff": 0.01, "increment_base": 0.01, "random_jitter_range": 0}


def write(driver, path, data, append=False):
    writer = driver.writer(path, append=append)
    writer.write(data)
    writer.commit()
    return writer


def read(driver, path, offset=0):
    with driver.reader(path, offset) as stream:
        return stream.read()


def committed_block_sizes(driver, path):
    return [block.size for block in driver.blob(path).get_block_list("committed")[0]]


# Credentials and errors


def test_wrong_account_key_is_a_clear_storage_error(azurite_server, azure_container):
    wrong_key = "A" * 86 + "=="
    driver = from_settings(azurite_server.options(azure_container, accountKey=wrong_key))
    for operation in (
        lambda: driver.stat("a"),
        lambda: driver.reader("a"),
        lambda: write(driver, "a", b"data"),
        lambda: list(driver.list("a")),
        driver.check,
    ):
        with pytest.raises(StorageError, match="rejected the credentials") as caught:
            operation()
        assert not isinstance(caught.value, PathNotFound)
        assert azure_container in str(caught.value)


def test_missing_container_is_a_storage_error_not_a_missing_path(azurite_server):
    driver = from_settings(azurite_server.options("never-created"))
    for operation in (
        lambda: driver.stat("a"),
        lambda: driver.reader("a"),
        lambda: driver.writer("a", append=True),
        lambda: write(driver, "a", b"data"),
        lambda: list(driver.list("a")),
        lambda: driver.move("a", "b"),
        lambda: driver.delete("a"),
        driver.check,
    ):
        with pytest.raises(StorageError, match="'never-created'.*the container does not exist"):
            operation()


SIGNATURE = "c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"


@pytest.mark.parametrize(
    "credentials",
    [{}, {"accountKey": None, "sasToken": f"sv=2025-01-05&sig={SIGNATURE}"}],
    ids=["account-key", "sas-token"],
)
def test_unreachable_endpoint_is_retried_then_a_storage_error(
    azurite_server, azure_container, credentials
):
    endpoint = f"http://127.0.0.1:{free_port()}/{ACCOUNT_NAME}"
    options = azurite_server.options(azure_container, endpointUrl=endpoint, **credentials)
    driver = from_settings(options, retry_policy=ExponentialRetry(retry_total=2, **FAST_RETRY))
    for operation in (lambda: driver.stat("a"), lambda: write(driver, "a", b"x")):
        with pytest.raises(StorageError, match="cannot be reached") as caught:
            operation()
        assert endpoint in str(caught.value)
        assert SIGNATURE not in str(caught.value)  # a SAS token is a secret


class FlakyProxy:
    """Forwards requests to Azurite, answering the first `failures` with 503 ServerBusy (Azure's
    throttling answer)."""

    def __init__(self, target, failures):
        self.failures = failures
        self.answered_busy = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.answered_busy < proxy.failures:
                    proxy.answered_busy += 1
                    self.send_response(503)
                    self.send_header("x-ms-error-code", "ServerBusy")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.request(
                    self.command, target + self.path, headers=headers, data=body, timeout=30
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                content = b"" if self.command == "HEAD" else answer.content
                length = answer.headers.get("Content-Length", str(len(content)))
                self.send_header("Content-Length", length)
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_throttled_requests_are_retried(azurite_server, azure_container):
    proxy = FlakyProxy(f"http://127.0.0.1:{azurite_server.port}", failures=3)
    try:
        options = azurite_server.options(azure_container, endpointUrl=f"{proxy.url}/{ACCOUNT_NAME}")
        driver = from_settings(options, retry_policy=ExponentialRetry(retry_total=3, **FAST_RETRY))
        data = os.urandom(3 * MIB // 2)
        write(driver, "busy/blob", data)
        assert proxy.answered_busy == 3
        assert read(driver, "busy/blob") == data
        proxy.failures += 4  # more than the policy retries: the error is reported
        with pytest.raises(StorageError, match="503"):
            driver.stat("busy/blob")
    finally:
        proxy.close()


def test_options_are_checked_with_clear_messages(azurite_server):
    options = azurite_server.options("c" * 3)
    cases = [
        ({"accountKey": None}, "needs credentials"),
        ({"accountKey": "not base64!"}, "accountKey is not a valid access key"),
        ({"sasToken": "sv=2020&sig=x"}, "either accountKey or sasToken"),
        ({"connectionString": azurite_server.connection_string}, "either connectionString"),
        ({"container": "Bad_Name"}, "not a valid Azure container name"),
        ({"container": None}, r"Container \(container\) is required"),
        ({"blockSizeMiB": 0}, "blockSizeMiB must be between 1 and 100"),
        ({"blockSizeMiB": "8"}, "must be a int"),
        ({"endpointUrl": "ftp://host/x"}, "endpointUrl must be an http"),
        ({"rootDirectory": "a/../b"}, "rootDirectory"),
        ({"bucket": "x"}, "unknown storage option 'bucket'"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            from_settings({**options, **change})
    with pytest.raises(ValueError, match="connectionString is not a valid"):
        from_settings({"connectionString": "nonsense", "container": "abc"})


def test_connection_string_and_sas_token_credentials(azurite_server, azure_container):
    by_string = from_settings(
        {"connectionString": azurite_server.connection_string, "container": azure_container}
    )
    write(by_string, "cs/blob", b"from a connection string")
    token = generate_container_sas(
        ACCOUNT_NAME,
        azure_container,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True
        ),
        expiry=time.time() + 600,
    )
    by_sas = from_settings(
        {**azurite_server.options(azure_container, accountKey=None), "sasToken": token}
    )
    assert read(by_sas, "cs/blob") == b"from a connection string"
    write(by_sas, "cs/sas", b"via SAS", append=True)
    by_sas.move("cs/sas", "cs/moved")  # a SAS-authorized copy source
    assert read(by_string, "cs/moved") == b"via SAS"
    assert sorted(by_sas.list("cs")) == ["cs/blob", "cs/moved"]
    assert by_sas.download_url("cs/moved", 60) is None  # no account key to sign with


# Redirects


def test_sas_url_downloads_with_plain_http_and_expires(azurite_server, azure_container):
    driver = from_settings(azurite_server.options(azure_container, redirect=True))
    data = os.urandom(1000)
    write(driver, "blobs/x", data)
    url = driver.download_url("blobs/x", expires_in=2)
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.content == data
    assert (
        requests.put(
            url, data=b"overwrite", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10
        ).status_code
        == 403
    )  # read-only
    time.sleep(3.5)
    assert requests.get(url, timeout=10).status_code == 403
    assert (
        from_settings(azurite_server.options(azure_container)).download_url("blobs/x", 60) is None
    )


# Blocks


def test_block_size_grows_so_that_100_gib_fits_in_50000_blocks():
    size, blocks = 0, 0
    while size < 100 * GIB:
        size += block_size_at(blocks, MIB)
        blocks += 1
    assert blocks < MAX_BLOCKS
    assert max_blob_size(MIB) >= 100 * GIB
    assert max_blob_size(8 * MIB) > 2 * 1024 * GIB  # the default block size: over 2 TiB
    assert block_size_at(0, MIB) == MIB and block_size_at(MAX_BLOCKS - 1, MIB) == 16 * MIB
    assert block_size_at(MAX_BLOCKS - 1, 100 * MIB) <= 4000 * MIB  # Azure's largest block


def test_a_writer_stages_growing_blocks(azure_driver, monkeypatch):
    monkeypatch.setattr(azure, "BLOCKS_PER_SIZE_STEP", 3)
    data = os.urandom(20 * MIB)
    write(azure_driver, "big", data)
    assert committed_block_sizes(azure_driver, "big") == [
        *[MIB] * 3,
        *[2 * MIB] * 3,
        *[4 * MIB] * 2,
        3 * MIB,
    ]
    assert read(azure_driver, "big") == data


def test_resumed_append_from_a_new_driver_instance(azurite_server, azure_container):
    first = os.urandom(MIB + MIB // 4)
    write(from_settings(azurite_server.options(azure_container)), "uploads/u", first)
    second = os.urandom(2 * MIB)
    other = from_settings(azurite_server.options(azure_container))
    writer = other.writer("uploads/u", append=True)
    assert writer.size == len(first)
    writer.write(second)
    writer.close()
    assert writer.size == len(first) + len(second)
    third = from_settings(azurite_server.options(azure_container))
    assert third.stat("uploads/u") == len(first) + len(second)
    assert read(third, "uploads/u") == first + second
    # the short last block of the first writer was carried into the second's blocks
    assert committed_block_sizes(third, "uploads/u") == [MIB, MIB, MIB, MIB // 4]


def test_many_small_appends_do_not_use_a_block_each(azure_driver):
    chunks = [os.urandom(100_000) for _ in range(30)]
    azure_driver.writer("uploads/small").close()
    for chunk in chunks:
        write(azure_driver, "uploads/small", chunk, append=True)
    assert read(azure_driver, "uploads/small") == b"".join(chunks)
    assert len(committed_block_sizes(azure_driver, "uploads/small")) <= 6


def test_truncate_drops_staged_blocks_and_writing_continues(azure_driver):
    old = os.urandom(MIB + 10)
    write(azure_driver, "t", old)
    writer = azure_driver.writer("t", append=True)
    writer.write(os.urandom(3 * MIB))  # blocks staged, none committed
    assert azure_driver.stat("t") == len(old)
    writer.truncate(len(old))
    assert writer.size == len(old)
    with pytest.raises(StorageError, match="opening size"):
        writer.truncate(5)
    writer.write(b"tail")
    writer.close()
    assert read(azure_driver, "t") == old + b"tail"


def test_cancelled_append_keeps_the_old_content(azure_driver):
    write(azure_driver, "c", b"kept")
    writer = azure_driver.writer("c", append=True)
    writer.write(os.urandom(2 * MIB))
    writer.cancel()
    assert read(azure_driver, "c") == b"kept"
    empty = azure_driver.writer("empty")
    empty.close()
    assert azure_driver.stat("empty") == 0 and read(azure_driver, "empty") == b""


def test_a_concurrent_append_is_refused_not_lost(azure_driver):
    write(azure_driver, "race", b"start ")
    one = azure_driver.writer("race", append=True)
    two = azure_driver.writer("race", append=True)
    one.write(b"one")
    two.write(b"two")
    one.close()
    with pytest.raises(StorageError, match="changed by another writer"):
        two.close()
    assert read(azure_driver, "race") == b"start one"


def test_append_to_a_blob_not_made_of_blocks(azure_driver):
    old = os.urandom(MIB + 5)
    azure_driver.blob("put/blob").upload_blob(old)  # Put Blob: no block list
    assert committed_block_sizes(azure_driver, "put/blob") == []
    write(azure_driver, "put/blob", b"more", append=True)
    assert read(azure_driver, "put/blob") == old + b"more"
    assert sum(committed_block_sizes(azure_driver, "put/blob")) == len(old) + 4


# Paths


def test_root_directory_prefixes_names_and_list_returns_logical_paths(
    azurite_server, azure_container
):
    driver = from_settings(azurite_server.options(azure_container, rootDirectory="/dtr/data/"))
    for path in ("d/1", "d/10", "d/1/x", "e"):
        write(driver, path, path.encode())
    names = sorted(
        b.name for b in azurite_server.service().get_container_client(azure_container).list_blobs()
    )
    assert names == ["dtr/data/d/1", "dtr/data/d/1/x", "dtr/data/d/10", "dtr/data/e"]
    assert sorted(driver.list("d/1")) == ["d/1", "d/1/x"]
    driver.delete("d/1")
    assert sorted(driver.list("d")) == ["d/10"]


def test_reader_streams_ranges(azure_driver):
    data = os.urandom(9 * MIB + 7)
    write(azure_driver, "r", data)
    with azure_driver.reader("r", offset=MIB + 3) as stream:
        assert stream.read(10) == data[MIB + 3 : MIB + 13]
        assert stream.read(5 * MIB) == data[MIB + 13 : 6 * MIB + 13]
        assert stream.read() == data[6 * MIB + 13 :]
        assert stream.read(1) == b""
    assert read(azure_driver, "r", offset=len(data)) == b""
    assert read(azure_driver, "r", offset=len(data) + 100) == b""
    with pytest.raises(PathNotFound):
        azure_driver.reader("missing", offset=5)
