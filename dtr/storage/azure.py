"""The Azure Blob storage driver: block blobs, appended by staging blocks.

A writer stages blocks of `blockSizeMiB` (at most one block is held in memory) and on close
commits the block list = the blob's committed blocks + its own, so the content is readable and
a later writer, in any process, continues from the committed block list. Nothing is committed
before close, so `truncate` and `cancel` only forget the staged blocks (Azure discards
uncommitted blocks). The short last block of an earlier append is carried over into the next
one, so that many small appends do not use up Azure's 50,000 blocks per blob; the block size
also grows with the block count (`block_size_at`), so a blob of hundreds of GiB fits.

`move` is a server-side Copy Blob within the account, waited for, then the source is deleted;
a destination whose copy is still pending (or failed) counts as absent, so content appears at
the destination whole or not at all.
"""

import base64
import binascii
import io
import re
import secrets
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobSasPermissions,
    BlobServiceClient,
    ExponentialRetry,
    generate_blob_sas,
)

from .driver import PathNotFound, StorageDriver, StorageError, Writer, path_parts
from .fields import Field, check_options

MIB = 1024 * 1024
MAX_BLOCKS = 50_000  # committed blocks per blob (an Azure limit)
BLOCKS_PER_SIZE_STEP = 10_000  # the block size doubles every this many blocks...
MAX_SIZE_DOUBLINGS = 4  # ...at most this many times (16 x blockSizeMiB, at most 1,600 MiB)
MAX_BLOCK_SIZE_MIB = 100
# The SDK turns each downloaded chunk into a list pre-sized to the chunk's byte count (8 bytes
# of memory per byte, for a moment): 1 MiB chunks keep that at 8 MiB.
DOWNLOAD_CHUNK = 1 * MIB
COPY_TIMEOUT_SECONDS = 3600
_ID_TOKEN_CHARS = 16
_ID_LENGTH = _ID_TOKEN_CHARS + 8  # block ids: writer token + 8-digit counter, equal length
_ABSENT_COPY_STATES = ("pending", "failed", "aborted")
_SIGNATURE = re.compile(r"(sig=)[^&\s'\"]+", re.IGNORECASE)

FIELDS = [
    Field("accountName", "Storage account name", help="Needed with accountKey or sasToken."),
    Field("accountKey", "Account key", kind="secret", help="A storage account access key."),
    Field(
        "connectionString",
        "Connection string",
        kind="secret",
        help="Instead of accountName, accountKey/sasToken and endpointUrl.",
    ),
    Field(
        "sasToken", "SAS token", kind="secret", help="Read, write, delete, list on the container."
    ),
    Field("container", "Container", required=True),
    Field(
        "endpointUrl",
        "Blob endpoint URL",
        help="e.g. http://127.0.0.1:10000/devstoreaccount1 for Azurite; "
        "default https://ACCOUNT.blob.REALM",
    ),
    Field("realm", "Realm", default="core.windows.net", help="e.g. core.chinacloudapi.cn"),
    Field("rootDirectory", "Root directory", default="", help="A prefix for every blob name."),
    Field(
        "redirect",
        "Redirect pulls",
        kind="bool",
        default=False,
        help="Send clients a short-lived read-only SAS URL (needs the account key).",
    ),
    Field(
        "blockSizeMiB",
        "Block size (MiB)",
        kind="int",
        default=8,
        help=f"1 to {MAX_BLOCK_SIZE_MIB}; one block per upload is held in memory.",
    ),
]


def default_retry_policy():
    """Throttling (503 ServerBusy), timeouts and connection failures are retried with
    exponential backoff: about 30 seconds in all before giving up."""
    return ExponentialRetry(
        initial_backoff=0.5, increment_base=2, retry_total=5, random_jitter_range=0.5
    )


def from_settings(options: dict, retry_policy=None) -> "AzureDriver":
    """The driver for the backend's options (see FIELDS); ValueError naming what is wrong or
    missing. `retry_policy` replaces default_retry_policy() (tests make it fast)."""
    return AzureDriver(options, retry_policy=retry_policy)


def _service_client(options, retry_policy):
    client_options = {
        "retry_policy": retry_policy or default_retry_policy(),
        "max_single_get_size": DOWNLOAD_CHUNK,  # a download holds one chunk in memory
        "max_chunk_get_size": DOWNLOAD_CHUNK,
        "connection_timeout": 20,
        "read_timeout": 120,
    }
    if not options["connectionString"]:
        return BlobServiceClient(
            _account_url(options), credential=_credential(options), **client_options
        )
    clashing = [
        name for name in ("accountName", "accountKey", "sasToken", "endpointUrl") if options[name]
    ]
    if clashing:
        raise ValueError(f"give either connectionString or {', '.join(clashing)}, not both")
    try:
        return BlobServiceClient.from_connection_string(
            options["connectionString"], **client_options
        )
    except ValueError as error:
        raise ValueError(f"connectionString is not a valid connection string: {error}") from None


def _credential(options):
    name, key, sas = options["accountName"], options["accountKey"], options["sasToken"]
    if not key and not sas:
        raise ValueError(
            "Azure storage needs credentials: accountName with accountKey or sasToken, "
            "or a connectionString"
        )
    if key and sas:
        raise ValueError("give either accountKey or sasToken, not both")
    if not name:
        raise ValueError("Storage account name (accountName) is required")
    if sas:
        return sas.lstrip("?")
    try:
        base64.b64decode(key, validate=True)
    except binascii.Error:
        raise ValueError("accountKey is not a valid access key (base64 expected)") from None
    return {"account_name": name, "account_key": key}


def _account_url(options):
    url = options["endpointUrl"]
    if not url:
        if not options["accountName"]:
            raise ValueError("Storage account name (accountName) is required")
        return f"https://{options['accountName']}.blob.{options['realm'].strip('.')}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ValueError(f"endpointUrl must be an http(s) URL without a query, not {url!r}")
    return url.rstrip("/")


def _check_container_name(name):
    if not (3 <= len(name) <= 63) or not all(c.isdigit() or c.islower() or c == "-" for c in name):
        raise ValueError(
            f"container {name!r} is not a valid Azure container name "
            "(3 to 63 lowercase letters, digits and hyphens)"
        )
    return name


def _check_root(root):
    root = root.strip("/")
    if root and any(part in ("", ".", "..") for part in root.split("/")):
        raise ValueError(f"rootDirectory {root!r} is not a valid path")
    return root


def _rebuild(options, retry_policy):
    return AzureDriver(options, retry_policy=retry_policy)


def block_size_at(index: int, base: int) -> int:
    """The size of the block at `index` in a blob's block list: `base`, doubled every
    BLOCKS_PER_SIZE_STEP blocks, MAX_SIZE_DOUBLINGS times at most."""
    return base << min(index // BLOCKS_PER_SIZE_STEP, MAX_SIZE_DOUBLINGS)


def max_blob_size(base: int) -> int:
    """The largest blob MAX_BLOCKS full blocks of growing size hold."""
    return sum(
        block_size_at(index, base) * min(BLOCKS_PER_SIZE_STEP, MAX_BLOCKS - index)
        for index in range(0, MAX_BLOCKS, BLOCKS_PER_SIZE_STEP)
    )


class AzureDriver(StorageDriver):
    def __init__(self, options: dict, *, retry_policy=None):
        self._options = dict(options)
        self._retry_policy = retry_policy
        options = check_options(FIELDS, options)
        self.service = _service_client(options, retry_policy)
        self.container = _check_container_name(options["container"])
        self.root = _check_root(options["rootDirectory"])
        if not 1 <= options["blockSizeMiB"] <= MAX_BLOCK_SIZE_MIB:
            raise ValueError(f"blockSizeMiB must be between 1 and {MAX_BLOCK_SIZE_MIB}")
        self.block_size = options["blockSizeMiB"] * MIB
        self.redirect = options["redirect"]
        self._container = self.service.get_container_client(self.container)
        endpoint = urlsplit(self.service.url)._replace(query="")  # without a SAS token
        self.endpoint = urlunsplit(endpoint).rstrip("/")

    def __reduce__(self):
        """A copy is a new driver with the same settings, as another process would build."""
        return (_rebuild, (self._options, self._retry_policy))

    # Names and errors

    def _name(self, path):
        parts = path_parts(path)
        return "/".join([self.root, *parts] if self.root else parts)

    def _logical(self, name):
        return name[len(self.root) + 1 :] if self.root else name

    def blob(self, path):
        return self._container.get_blob_client(self._name(path))

    @contextmanager
    def errors(self, path=None):
        """Azure's exceptions as StorageError / PathNotFound, with messages that say what to
        fix."""
        where = f"Azure Blob storage ({self.endpoint}, container {self.container!r})"
        try:
            yield
        except ResourceNotFoundError as error:
            if error.error_code == "ContainerNotFound":
                raise StorageError(f"{where}: the container does not exist") from error
            raise PathNotFound(path) from error
        except HttpResponseError as error:
            if isinstance(error, ClientAuthenticationError) or error.status_code == 403:
                raise StorageError(_refused(where, error)) from error
            message = _redact(error.message.splitlines()[0]) if error.message else ""
            raise StorageError(
                f"{where}: {error.status_code} {_code(error)} {message}".rstrip()
            ) from error
        except (ServiceRequestError, ServiceResponseError) as error:
            raise StorageError(f"{where} cannot be reached: {_redact(str(error))}") from error
        except AzureError as error:
            raise StorageError(f"{where}: {_redact(str(error))}") from error

    def check(self):
        """Raises StorageError unless the container is reachable with the credentials."""
        with self.errors():
            self._container.get_container_properties()

    # Reading

    def _properties(self, path):
        """The blob's properties, or None when it is absent (or a copy into it is not done)."""
        try:
            with self.errors(path):
                properties = self.blob(path).get_blob_properties()
        except PathNotFound:
            return None
        return None if properties.copy.status in _ABSENT_COPY_STATES else properties

    def stat(self, path):
        properties = self._properties(path)
        return None if properties is None else properties.size

    def reader(self, path, offset=0):
        blob = self.blob(path)
        with self.errors(path):
            try:
                # an explicit offset 0 is an invalid range on an empty blob
                download = blob.download_blob(offset=offset or None)
            except HttpResponseError as error:
                if error.status_code != 416:
                    raise
                if self._properties(path) is None:
                    raise PathNotFound(path) from error
                return io.BytesIO(b"")  # past the end, as a file reads
        if download.properties.copy.status in _ABSENT_COPY_STATES:
            raise PathNotFound(path)
        return io.BufferedReader(_ChunksReader(self, path, download.chunks()), DOWNLOAD_CHUNK)

    def list(self, prefix):
        name = self._name(prefix)
        with self.errors(prefix):
            for blob in self._container.list_blobs(name_starts_with=name, include=["copy"]):
                if blob.name != name and not blob.name.startswith(name + "/"):
                    continue
                if blob.copy.status in _ABSENT_COPY_STATES:
                    continue
                yield self._logical(blob.name)

    def download_url(self, path, expires_in):
        key = getattr(self.service.credential, "account_key", None)
        if not self.redirect or key is None:
            return None
        blob = self.blob(path)
        token = generate_blob_sas(
            account_name=self.service.account_name,
            container_name=self.container,
            blob_name=blob.blob_name,
            account_key=key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + timedelta(seconds=expires_in),
        )
        return f"{blob.url}?{token}"

    # Writing

    def writer(self, path, append=False):
        blob = self.blob(path)
        with self.errors(path):
            return AzureWriter(self, blob, path, append)

    def move(self, source, destination):
        source_blob, target = self.blob(source), self.blob(destination)
        with self.errors(source):
            properties = source_blob.get_blob_properties()
        if source_blob.blob_name == target.blob_name:
            return
        with self.errors(destination):
            self._copy(source_blob, properties.etag, target)
            try:
                source_blob.delete_blob()
            except ResourceNotFoundError:
                pass

    def _copy(self, source_blob, etag, target):
        """Copy Blob, waited for; a copy into the target still pending is waited for first."""
        deadline = time.monotonic() + COPY_TIMEOUT_SECONDS
        while True:
            try:
                result = target.start_copy_from_url(
                    source_blob.url,
                    source_etag=etag,
                    source_match_condition=MatchConditions.IfNotModified,
                )
                break
            except ResourceNotFoundError as error:
                if error.error_code == "ContainerNotFound":
                    raise
                raise PathNotFound(source_blob.blob_name) from error  # moved away meanwhile
            except HttpResponseError as error:
                if error.error_code != "PendingCopyOperation":
                    raise
                self._wait_for_copy(target, None, deadline)
        status = self._wait_for_copy(target, result["copy_id"], deadline, result["copy_status"])
        if status != "success":
            try:
                target.delete_blob()
            except ResourceNotFoundError:
                pass
            raise StorageError(f"copying to {target.blob_name!r} ended as {status!r}")

    def _wait_for_copy(self, target, copy_id, deadline, status="pending"):
        pause = 0.05
        while status == "pending":
            if time.monotonic() > deadline:
                if copy_id is not None:
                    target.abort_copy(copy_id)
                raise StorageError(f"copying to {target.blob_name!r} did not finish in time")
            time.sleep(pause)
            pause = min(pause * 2, 2)
            try:
                copy = target.get_blob_properties().copy
            except ResourceNotFoundError:
                return "gone"
            if copy_id is not None and copy.id != copy_id:
                return "success"  # replaced by a later copy or write: ours had finished
            status = copy.status
        return status

    def delete(self, path):
        name = self._name(path)
        with self.errors(path):
            names = [name]
            names += [blob.name for blob in self._container.list_blobs(name_starts_with=name + "/")]
            for each in names:
                try:
                    self._container.delete_blob(each)
                except ResourceNotFoundError:
                    pass


def _redact(text):
    """The text without SAS signatures (URLs in the SDK's messages may carry one)."""
    return _SIGNATURE.sub(r"\1REDACTED", text)


def _code(error):
    return getattr(error.error_code, "value", error.error_code) or ""


def _refused(where, error):
    return (
        f"{where} rejected the credentials ({_code(error)}): check the account key or "
        "connection string; a SAS token needs read, add, create, write, delete and list "
        "permissions and must not have expired"
    )


class _ChunksReader(io.RawIOBase):
    """A raw stream over a ranged download's chunk iterator (one chunk in memory)."""

    def __init__(self, driver, path, chunks):
        self._driver, self._path, self._chunks = driver, path, chunks
        self._pending = memoryview(b"")

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._pending:
            with self._driver.errors(self._path):
                chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self):
        self._pending = memoryview(b"")
        self._chunks = iter(())
        super().close()


class AzureWriter(Writer):
    def __init__(self, driver, blob, path, append):
        self._driver, self._blob, self._path = driver, blob, path
        self._append = append
        self._token = secrets.token_hex(_ID_TOKEN_CHARS // 2)
        self._counter = 0
        self._etag = None  # of the blob at opening, when appending to an existing one
        self._opening_size = 0
        if append:
            try:
                properties = blob.get_blob_properties()
            except ResourceNotFoundError as error:
                if error.error_code == "ContainerNotFound":
                    raise
            else:
                if properties.copy.status == "pending":
                    raise StorageError(f"{path!r} is being copied into: cannot append yet")
                self._etag = properties.etag
                self._opening_size = properties.size
        self._size = self._opening_size
        self._reset()
        self._closed = False

    def _reset(self):
        """Back to the opening state: nothing of this writer staged or buffered."""
        self._prepared = False
        self._base = []  # BlobBlocks of the opening content that the commit keeps
        self._new = []  # BlobBlocks staged by this writer
        self._buffer = bytearray()

    @property
    def size(self):
        return self._size

    def write(self, data):
        if self._closed:
            raise StorageError(f"writer of {self._path!r} is closed")
        with self._driver.errors(self._path):
            if not self._prepared:
                self._prepare()
            self._stage_bytes(memoryview(data))
        self._size += len(data)

    def _prepare(self):
        """Before the first write: take the committed block list to keep, and carry its short
        last block over into the buffer. A blob not made of this driver's blocks (Put Blob,
        other tools) is staged again as blocks, read from the blob."""
        self._prepared = True
        if self._etag is None or self._opening_size == 0:
            return
        blocks = self._blob.get_block_list("committed")[0]
        if sum(block.size for block in blocks) != self._opening_size or any(
            len(block.id) != _ID_LENGTH for block in blocks
        ):
            self._restage(0, self._opening_size)
            return
        self._base = [BlobBlock(block.id) for block in blocks]
        last = blocks[-1]
        if last.size < block_size_at(len(blocks) - 1, self._driver.block_size) // 2:
            self._base.pop()
            self._restage(self._opening_size - last.size, last.size)

    def _restage(self, offset, length):
        download = self._blob.download_blob(
            offset=offset,
            length=length,
            etag=self._etag,
            match_condition=MatchConditions.IfNotModified,
        )
        for chunk in download.chunks():
            self._stage_bytes(memoryview(chunk))

    def _stage_bytes(self, view):
        while view:
            target = block_size_at(len(self._base) + len(self._new), self._driver.block_size)
            room = target - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) >= target:
                self._stage_buffer()

    def _stage_buffer(self):
        if len(self._base) + len(self._new) >= MAX_BLOCKS:
            raise StorageError(f"{self._path!r} would exceed Azure's {MAX_BLOCKS} blocks per blob")
        block_id = f"{self._token}{self._counter:08d}"
        self._counter += 1
        self._blob.stage_block(block_id, self._buffer, length=len(self._buffer))
        self._new.append(BlobBlock(block_id))
        self._buffer = bytearray()

    def truncate(self, size):
        if size != self._opening_size:
            raise StorageError(
                f"an Azure writer only truncates to its opening size {self._opening_size}, "
                f"not {size}"
            )
        self._reset()  # nothing was committed: forgetting the staged blocks is enough
        self._size = size

    def commit(self):
        self.close()

    def close(self):
        if self._closed:
            return
        self._closed = True
        unchanged = self._append and self._etag is not None and not self._prepared
        if unchanged:
            return
        with self._driver.errors(self._path):
            if self._buffer:
                self._stage_buffer()
            if not self._append:
                conditions = {}
            elif self._etag is None:
                conditions = {"match_condition": MatchConditions.IfMissing}
            else:
                conditions = {"etag": self._etag, "match_condition": MatchConditions.IfNotModified}
            try:
                self._blob.commit_block_list(self._base + self._new, **conditions)
            except HttpResponseError as error:
                if error.status_code not in (409, 412):
                    raise
                raise StorageError(
                    f"{self._path!r} was changed by another writer since this one opened it: "
                    "nothing was appended"
                ) from error
        self._buffer = bytearray()

    def cancel(self):
        """Nothing was committed: Azure drops the staged blocks at the next commit, or after a
        week."""
        self._closed = True
        self._reset()
        self._size = self._opening_size
