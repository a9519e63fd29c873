"""The Amazon S3 driver (and S3-compatible stores), on boto3.

S3 cannot append to an object nor read an unfinished multipart upload, so a writer opens a
multipart upload of its own and sends the bytes part by part (one part being filled plus one
in flight: memory stays flat). When it continues a finished object, the upload starts with
the old bytes (a server-side UploadPartCopy, or read into the buffer when the object is
smaller than S3's 5 MiB minimum part).

`commit()` completes the upload: the object at the path's key becomes old + new at once.
`close()` **parks** it instead, so that a chunked upload keeps one multipart upload across
its requests (no copy of everything received at each PATCH): the bytes after the last full
part (the tail, under one part) are put as the object at the key, with metadata naming the
multipart upload, its part count and the bytes in its parts. That put is the commit point of
each chunk: a writer that dies before it leaves the object as it was, and the parts it sent
are overwritten by the next writer's (same part numbers) or left out of the completion.
A later append writer (any process) takes the tail back into its buffer and goes on with the
next part number; `stat` counts the parts; reading, moving or `commit()` completes a parked
upload first, and deleting aborts it.

Multipart uploads that a crashed process or an abandoned push leaves behind are invisible but
billed: give the bucket a lifecycle rule that aborts incomplete multipart uploads after a
day or more (longer than an upload may stay idle before garbage collection drops it).
"""

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise

import boto3
import botocore.config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from . import StorageFull
from .driver import BodyReader, PathNotFound, StorageDriver, StorageError, Writer, path_parts
from .fields import Field, check_options

MIB = 1024 * 1024
GIB = 1024 * MIB
MIN_PART = 5 * MIB  # S3: every part but the last
MAX_PART = 5 * GIB  # S3: largest part, and largest single CopyObject
MAX_PARTS = 10_000
PARTS_PER_STEP = 900  # the part size doubles after every 900 parts' worth of bytes
READ_RETRIES = 3  # a download cut mid-stream resumes where it stopped, this many times
# the metadata of a parked object (see the module docstring); S3 lower-cases the names
PARKED_UPLOAD = "dtr-multipart-upload"
PARKED_PARTS = "dtr-multipart-parts"
PARKED_BYTES = "dtr-multipart-bytes"

FIELDS = [
    Field("region", "Region", help="For example eu-west-1; empty: from the AWS environment."),
    Field("bucket", "Bucket", required=True, help="An existing bucket."),
    Field(
        "endpointUrl",
        "Endpoint URL",
        help="For S3-compatible stores (MinIO, Ceph, ...); empty for Amazon S3.",
    ),
    Field(
        "accessKey",
        "Access key ID",
        help="Empty, with the secret key: the default AWS credential chain (environment, "
        "profile, instance or task role).",
    ),
    Field("secretKey", "Secret access key", kind="secret"),
    Field("rootDirectory", "Root directory", help="A key prefix under which DTR keeps its data."),
    Field("encrypt", "Encrypt", kind="bool", default=False, help="Server-side AES256."),
    Field(
        "pathStyle",
        "Path-style addressing",
        kind="bool",
        default=False,
        help="endpoint/bucket/key instead of bucket.endpoint/key (most S3-compatible stores).",
    ),
    Field(
        "redirect",
        "Redirect downloads",
        kind="bool",
        default=False,
        help="Clients download blobs straight from S3 by pre-signed URL.",
    ),
    Field(
        "partSizeMiB",
        "Part size (MiB)",
        kind="int",
        default=8,  # two parts in memory per upload: a 1 GiB push peaks at ~140 MiB RSS
        help="Upload part size, 5 to 5120; grows for very large blobs (10,000 parts at most).",
    ),
]

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_part_uploads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dtr-s3-part")


def from_settings(options: dict) -> "S3Driver":
    """A driver for the backend's options (see FIELDS); ValueError on bad options."""
    return S3Driver(options)


def part_size_at(offset: int, base: int) -> int:
    """The size of the part that starts at byte `offset` of an object: `base` for the first
    900 parts' worth of bytes, then doubling every 900 parts (at most 5 GiB), so that even a
    5 TiB object fits in S3's 10,000 parts while small blobs keep small parts."""
    step_size = base
    covered = base * PARTS_PER_STEP
    while offset >= covered and step_size < MAX_PART:
        step_size *= 2
        covered += step_size * PARTS_PER_STEP
    return min(step_size, MAX_PART)


def copy_ranges(size: int) -> list[tuple[int, int]]:
    """(first, last) byte ranges, each at most 5 GiB, that copy an object of `size` bytes."""
    count = -(-size // MAX_PART)
    bounds = [size * index // count for index in range(count + 1)]
    return [(start, end - 1) for start, end in pairwise(bounds)]


def _check_settings(options: dict) -> dict:
    settings = check_options(FIELDS, options)
    if not _BUCKET_NAME.fullmatch(settings["bucket"]):
        raise ValueError(f"Bucket (bucket) {settings['bucket']!r} is not a valid S3 bucket name")
    if bool(settings["accessKey"]) != bool(settings["secretKey"]):
        raise ValueError(
            "Access key ID (accessKey) and Secret access key (secretKey) go together: "
            "give both, or neither to use the default AWS credential chain"
        )
    endpoint = settings["endpointUrl"]
    if endpoint and not re.fullmatch(r"https?://[^/\s]+/?", endpoint):
        raise ValueError(
            f"Endpoint URL (endpointUrl) {endpoint!r} must look like https://host[:port]"
        )
    if not 5 <= settings["partSizeMiB"] <= 5120:
        raise ValueError("Part size (partSizeMiB) must be between 5 and 5120 MiB")
    root = (settings["rootDirectory"] or "").strip("/")
    if root:
        _check_path(root)
    settings["rootDirectory"] = root
    return settings


def _check_path(path: str) -> str:
    return "/".join(path_parts(path))


def parked_upload(head: dict) -> tuple[str, int, int] | None:
    """(upload id, parts, bytes in the parts) of a parked object, None for a finished one."""
    metadata = head.get("Metadata") or {}
    upload = metadata.get(PARKED_UPLOAD)
    if not upload:
        return None
    return upload, int(metadata[PARKED_PARTS]), int(metadata[PARKED_BYTES])


def content_size(head: dict) -> int:
    """The size of the content at a key: a parked object's parts count too."""
    parked = parked_upload(head)
    return head["ContentLength"] + (parked[2] if parked else 0)


class S3Driver(StorageDriver):
    def __init__(self, options: dict, *, max_attempts: int = 5):
        self._options = dict(options)
        self._max_attempts = max_attempts
        settings = _check_settings(options)
        self.bucket = settings["bucket"]
        self.endpoint = settings["endpointUrl"] or "the AWS S3 endpoint"
        self.part_size = settings["partSizeMiB"] * MIB
        self._prefix = settings["rootDirectory"] + "/" if settings["rootDirectory"] else ""
        self._redirect = settings["redirect"]
        self._sse = {"ServerSideEncryption": "AES256"} if settings["encrypt"] else {}
        self._bucket_checked = threading.Event()
        session = boto3.session.Session(
            aws_access_key_id=settings["accessKey"] or None,
            aws_secret_access_key=settings["secretKey"] or None,
            region_name=settings["region"] or None,
        )
        config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=10,
            read_timeout=120,
            max_pool_connections=32,
            s3={"addressing_style": "path" if settings["pathStyle"] else "auto"},
            signature_version="s3v4",
            # Checksums only where S3 requires them: many S3-compatible stores reject the
            # newer flexible checksums on multipart uploads.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client = session.client(
            "s3", endpoint_url=settings["endpointUrl"] or None, config=config
        )

    def __reduce__(self):
        """A copy is a new driver with the same settings, as another process would build."""
        return (_rebuild, (self._options, self._max_attempts))

    # paths and errors

    def _key(self, path: str) -> str:
        return self._prefix + _check_path(path)

    def _path(self, key: str) -> str:
        return key[len(self._prefix) :]

    @contextmanager
    def errors(self, action: str, path: str | None = None):
        """Turns boto errors of `action` into StorageError (PathNotFound for missing keys)."""
        try:
            yield
        except ClientError as error:
            raise self._client_error(error, action, path) from error
        except (NoCredentialsError, PartialCredentialsError) as error:
            raise StorageError(
                f"S3 {action}: no credentials: set accessKey and secretKey, or configure the "
                "AWS environment (variables, ~/.aws, instance role)"
            ) from error
        except BotoConnectionError as error:
            raise StorageError(
                f"S3 {action}: cannot reach {self.endpoint}: {error}; check endpointUrl, "
                "region and the network"
            ) from error
        except BotoCoreError as error:
            raise StorageError(f"S3 {action} failed: {error}") from error

    def _client_error(self, error: ClientError, action: str, path: str | None) -> StorageError:
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        message = details.get("Message") or ""
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        where = f"bucket {self.bucket!r} at {self.endpoint}"
        if code == "NoSuchBucket":
            return StorageError(f"S3 {action}: {where} does not exist")
        if code in ("NoSuchKey", "404", "NotFound") and path is not None:
            return PathNotFound(path)
        if code in ("XMinioStorageFull", "QuotaExceeded") or status == 507:  # MinIO, Ceph RGW
            return StorageFull(f"S3 {action} on {where}: {code} {message}".strip())
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"):
            return StorageError(
                f"S3 {action}: {where} rejected the credentials ({code}): check accessKey "
                "and secretKey"
            )
        if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled") or status == 403:
            return StorageError(
                f"S3 {action}: access to {where} denied ({code}): check the credentials and "
                f"that they may read and write the bucket. {message}".strip()
            )
        return StorageError(f"S3 {action} on {where} failed: {code} {message}".strip())

    def _check_bucket(self):
        """A HEAD answers 404 for a missing bucket as for a missing key: tell them apart once."""
        if self._bucket_checked.is_set():
            return
        with self.errors("bucket check"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
                    raise StorageError(
                        f"S3: bucket {self.bucket!r} at {self.endpoint} does not exist"
                    ) from error
                raise
        self._bucket_checked.set()

    def head(self, path: str, action: str = "stat") -> dict | None:
        """The object's metadata (ContentLength, ETag, ...), or None when it does not exist."""
        with self.errors(action, path):
            try:
                return self.client.head_object(Bucket=self.bucket, Key=self._key(path))
            except ClientError as error:
                if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                    raise
        self._check_bucket()
        return None

    # the interface

    def reader(self, path, offset=0):
        return S3Reader(self, path, offset)

    def writer(self, path, append=False):
        return S3Writer(self, path, append)

    def stat(self, path):
        head = self.head(path)
        return None if head is None else content_size(head)

    def list(self, prefix):
        if self.head(prefix, "list") is not None:
            yield _check_path(prefix)
        yield from (self._path(key) for key in self._keys_under(prefix))

    def _keys_under(self, path):
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(path) + "/"
        )
        with self.errors("list", path):
            for page in pages:
                for item in page.get("Contents", ()):
                    yield item["Key"]

    def move(self, source, destination):
        head = self.head(source, "move")
        if head is None:
            raise PathNotFound(source)
        if parked_upload(head):
            self.finish_parked(source)
            head = self.head(source, "move")
        source_key, target_key = self._key(source), self._key(destination)
        if source_key == target_key:
            return
        copy_source = {"Bucket": self.bucket, "Key": source_key}
        with self.errors("move", source):
            if head["ContentLength"] <= MAX_PART:
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=target_key,
                    CopySource=copy_source,
                    CopySourceIfMatch=head["ETag"],
                    **self._sse,
                )
            else:
                upload = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=target_key, **self._sse
                )["UploadId"]
                try:
                    parts = self.copy_parts(target_key, upload, source_key, head, 1)
                    self.complete(target_key, upload, parts)
                except BaseException:
                    self.abort(target_key, upload)
                    raise
            self.client.delete_object(Bucket=self.bucket, Key=source_key)

    def delete(self, path):
        key = self._key(path)
        head = self.head(path, "delete")
        parked = head and parked_upload(head)
        with self.errors("delete", path):
            self.client.delete_object(Bucket=self.bucket, Key=key)
        if parked:
            self.abort(key, parked[0])
        batch = []
        for item in self._keys_under(path):
            batch.append({"Key": item})
            if len(batch) == 1000:
                self._delete_batch(batch)
                batch = []
        if batch:
            self._delete_batch(batch)

    def _delete_batch(self, batch):
        with self.errors("delete"):
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
        if response.get("Errors"):
            first = response["Errors"][0]
            raise StorageError(
                f"S3 delete: {len(response['Errors'])} keys not deleted, "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message', '')}"
            )

    def delete_files(self, paths):
        """1,000 keys per request (a collection deletes thousands, inside its write
        transaction), then the multipart uploads of those keys (parked ones) aborted after
        one listing, instead of three requests per file."""
        failed, keys = {}, {}
        for path in paths:
            try:
                keys[self._key(path)] = path
            except StorageError as error:
                failed[path] = str(error)
        names = list(keys)
        for start in range(0, len(names), 1000):
            batch = names[start : start + 1000]
            try:
                with self.errors("delete"):
                    response = self.client.delete_objects(
                        Bucket=self.bucket,
                        Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                    )
            except StorageError as error:
                failed.update((keys[key], str(error)) for key in batch)
                continue
            for error in response.get("Errors", ()):
                reason = f"S3 delete: {error.get('Code')} {error.get('Message', '')}"
                failed[keys[error["Key"]]] = reason.strip()
        self._abort_uploads_of({key for key, path in keys.items() if path not in failed})
        return failed

    def _abort_uploads_of(self, keys):
        """Best effort (what is left is the lifecycle rule's)."""
        if not keys:
            return
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=os.path.commonprefix(sorted(keys))
        )
        try:
            for page in pages:
                for upload in page.get("Uploads", ()):
                    if upload["Key"] in keys:
                        self.abort(upload["Key"], upload["UploadId"])
        except (ClientError, BotoCoreError):
            pass

    def download_url(self, path, expires_in):
        if not self._redirect:
            return None
        with self.errors("pre-signing", path):
            return self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(path)},
                ExpiresIn=expires_in,
            )

    def finish_parked(self, path):
        """Completes the multipart upload of a parked object: the content becomes readable."""
        S3Writer(self, path, append=True).commit()

    # multipart steps shared by writers and move

    def copy_parts(self, key, upload, source_key, head, first_number) -> "list[dict]":
        """Copies the object `source_key` (as `head` describes it) into parts of `upload`."""
        parts = []
        for number, (start, end) in enumerate(copy_ranges(head["ContentLength"]), first_number):
            result = self.client.upload_part_copy(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload,
                PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": source_key},
                CopySourceIfMatch=head["ETag"],
                CopySourceRange=f"bytes={start}-{end}",
            )
            parts.append({"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]})
        return parts

    def complete(self, key, upload, parts):
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
        )

    def abort(self, key, upload):
        """Best effort: a failed abort leaves an invisible upload for the lifecycle rule."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
        except (ClientError, BotoCoreError):
            pass


def _rebuild(options, max_attempts):
    return S3Driver(options, max_attempts=max_attempts)


class S3Reader(BodyReader):
    """The object from `offset`, streamed by one ranged GetObject (resumed if cut)."""

    def __init__(self, driver: S3Driver, path: str, offset: int):
        super().__init__()
        self._driver = driver
        self._path = path
        self._key = driver._key(path)
        self._position = offset
        self._etag = None
        self._body = None
        self._body = self._open()

    def _open(self):
        params = {"Bucket": self._driver.bucket, "Key": self._key}
        if self._position:
            params["Range"] = f"bytes={self._position}-"
        if self._etag:
            params["IfMatch"] = self._etag  # a resumed read continues the same object
        with self._driver.errors("read", self._path):
            try:
                response = self._driver.client.get_object(**params)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "InvalidRange":
                    raise
                response = None  # the offset is at or past the end (of a parked tail?)
        if self._etag is None:
            head = response or self._driver.head(self._path, "read")
            if head is not None and parked_upload(head):  # first made whole, then read
                if response:
                    response["Body"].close()
                self._driver.finish_parked(self._path)
                return self._open()
        if response is None:
            return None
        self._etag = response["ETag"]
        return response["Body"]

    def read(self, size=-1):
        if self._body is None:
            return b""
        for attempt in range(READ_RETRIES + 1):
            try:
                data = self._body.read(None if size is None or size < 0 else size)
                break
            except (HTTPClientError, IncompleteReadError) as error:
                if attempt == READ_RETRIES:
                    raise StorageError(f"S3 read of {self._path!r} failed: {error}") from error
                self._body.close()
                self._body = self._open()
                if self._body is None:
                    return b""
        self._position += len(data)
        return data


class S3Writer(Writer):
    """Appends to one key through a multipart upload that commit() completes and close()
    parks (see the module docstring)."""

    def __init__(self, driver: S3Driver, path: str, append: bool):
        self._driver = driver
        self._path = path
        self._key = driver._key(path)
        self._base = driver.head(path, "append") if append else None  # the object continued
        self._parked = parked_upload(self._base) if self._base else None
        self._base_size = content_size(self._base) if self._base else 0
        self._closed = False
        self._reset()

    def _reset(self):
        """Back to the state of a new writer: nothing of this writer's is stored."""
        self._started = False  # the old content is in the buffer or part of the upload
        self._buffer = bytearray()
        self._upload, self._earlier_parts, self._stored = self._parked or (None, 0, 0)
        self._parts = []  # this writer's parts (those of a parked upload come after earlier)
        self._pending = None  # the part being uploaded
        self._size = self._base_size
        self._failed = False  # a write failed: truncate() or cancel() before going on

    @property
    def size(self):
        return self._size

    def _check_usable(self):
        if self._closed:
            raise StorageError(f"write to a closed writer of {self._path!r}")
        if self._failed:
            raise StorageError(
                f"an earlier write to {self._path!r} failed and was dropped: truncate or cancel"
            )

    def write(self, data):
        self._check_usable()
        if not data:
            return
        if not self._started:
            self._start()
        view = memoryview(data)
        while view:
            part_size = part_size_at(self._stored, self._driver.part_size)
            room = part_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == part_size:
                self._send_part()
        self._size += len(data)

    def _start(self):
        """Takes in the content this writer continues."""
        driver, key = self._driver, self._key
        if self._parked or 0 < self._base_size < MIN_PART:
            # a parked tail, or content too small for a part: it goes first in the buffer
            with self._failing("append (reading the old content)"):
                if self._base["ContentLength"]:
                    body = driver.client.get_object(
                        Bucket=driver.bucket, Key=key, IfMatch=self._base["ETag"]
                    )["Body"]
                    with body:
                        self._buffer += body.read()
        elif self._base_size:
            self._begin_upload()
            with self._failing("append (copying the old content)"):
                self._parts = driver.copy_parts(key, self._upload, key, self._base, 1)
            self._stored = self._base_size
        self._started = True

    def _begin_upload(self):
        driver = self._driver
        with self._failing("upload"):
            self._upload = driver.client.create_multipart_upload(
                Bucket=driver.bucket, Key=self._key, **driver._sse
            )["UploadId"]

    @contextmanager
    def _failing(self, action):
        """On an error, drop what this writer sent so that nothing of it lingers: the object
        stays as it was, and the writer refuses to go on until truncated (back to its opening
        state) or cancelled."""
        try:
            with self._driver.errors(action, self._path):
                yield
        except BaseException:
            self._abort()
            self._failed = True
            raise

    def _send_part(self):
        if self._upload is None:
            self._begin_upload()
        self._wait_for_pending()
        number = self._earlier_parts + len(self._parts) + 1
        with self._failing("upload"):
            if number > MAX_PARTS:
                raise StorageError(f"{self._path!r} is too large for S3 (10,000 parts)")
        part, self._buffer = self._buffer, bytearray()
        self._pending = _part_uploads.submit(self._upload_part, self._upload, number, part)
        self._stored += len(part)

    def _upload_part(self, upload, number, data):
        driver = self._driver
        result = driver.client.upload_part(
            Bucket=driver.bucket, Key=self._key, UploadId=upload, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": result["ETag"]}

    def _wait_for_pending(self):
        if self._pending is not None:
            pending, self._pending = self._pending, None
            with self._failing("upload"):
                self._parts.append(pending.result())

    def _abort(self):
        """Drops this writer's parts: its own upload is aborted; in a parked one, the parts
        it sent are overwritten or left out later (the object still names the earlier ones)."""
        if self._pending is not None:
            self._pending.exception()  # wait; its error is the caller's concern
        if self._upload is not None and self._parked is None:
            self._driver.abort(self._key, self._upload)
        self._reset()

    def truncate(self, size):
        if size != self._base_size:
            raise StorageError(
                f"an S3 writer can only drop all it wrote (truncate to {self._base_size}), "
                f"not truncate to {size}"
            )
        self._abort()

    def commit(self):
        self._finish(complete=True)

    def close(self):
        self._finish(complete=False)

    def _finish(self, complete):
        if self._closed:
            return
        self._check_usable()
        self._closed = True
        if not self._started and self._base is not None:
            if not (complete and self._parked):
                return  # nothing written: the object stays as it is
            self._start()
        driver = self._driver
        if self._upload is None:  # everything is in the buffer
            with self._failing("write"):
                driver.client.put_object(
                    Bucket=driver.bucket, Key=self._key, Body=self._buffer, **driver._sse
                )
        elif complete:
            if self._buffer:
                self._send_part()  # the last part may be smaller than 5 MiB
            self._wait_for_pending()
            with self._failing("write (completing the upload)"):
                parts = self._listed_earlier_parts() + self._parts
                driver.complete(self._key, self._upload, parts)
        else:
            self._wait_for_pending()
            metadata = {
                PARKED_UPLOAD: self._upload,
                PARKED_PARTS: str(self._earlier_parts + len(self._parts)),
                PARKED_BYTES: str(self._stored),
            }
            with self._failing("write (parking the upload)"):
                driver.client.put_object(
                    Bucket=driver.bucket,
                    Key=self._key,
                    Body=self._buffer,
                    Metadata=metadata,
                    **driver._sse,
                )
        self._buffer, self._upload, self._parts = bytearray(), None, []

    def _listed_earlier_parts(self) -> list[dict]:
        """The parts of a parked upload that its object names (later ones are leftovers of a
        writer that died before parking), checked against the size it recorded."""
        if not self._earlier_parts:
            return []
        driver, parts = self._driver, {}
        pages = driver.client.get_paginator("list_parts").paginate(
            Bucket=driver.bucket, Key=self._key, UploadId=self._upload
        )
        for page in pages:
            for part in page.get("Parts", ()):
                if part["PartNumber"] <= self._earlier_parts:
                    parts[part["PartNumber"]] = part
        numbers = range(1, self._earlier_parts + 1)
        if (
            sorted(parts) != list(numbers)
            or sum(p["Size"] for p in parts.values()) != (self._parked[2])
        ):
            raise StorageError(
                f"the multipart upload of {self._path!r} lacks parts it had: "
                f"{len(parts)} of {self._earlier_parts} found"
            )
        return [{"PartNumber": n, "ETag": parts[n]["ETag"]} for n in numbers]

    def cancel(self):
        self._abort()
        self._closed = True
        if self._base is None:  # this writer created the path: leave nothing
            self._driver.delete(self._path)
