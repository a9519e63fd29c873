"""The OpenStack Swift driver: the content at a path is a Static Large Object (SLO).

Objects in the container (`<root>` is the rootDirectory option: "" or "some/prefix/"):

    <root>files/<path>                   the content at <path>: an SLO manifest, or an empty
                                         plain object (a writer closed without data)
    <root>segments/<writer id>/<n>       segment n (0, 1, ...) that a writer uploaded
    <root>segments/<writer id>/m<k>-<n>  a level-k sub-manifest that a writer folded

Writing. A writer buffers at most one segment (segmentSizeMiB) and uploads it when full. On
close()/commit() it uploads the partial last segment and writes the manifest at the path: the
entries the path had when the writer was opened, then its own, so the content is readable and a
later writer(path, append=True), in any process, reads the manifest and goes on. Two things keep
a manifest within Swift's limits (max_manifest_segments, default 1000; SLOs nest 10 deep at
most) however large a blob grows and however many requests it arrives in:
  - folding: when the last FANOUT entries have the same level k, they are replaced by one
    level-k+1 sub-manifest (a nested SLO), like a base-FANOUT counter: fewer than FANOUT
    entries per level, log_FANOUT(segments) levels. 100 GiB in 1 MiB segments (102400) nests
    4 deep with fewer than 100 top-level entries at any time; MAX_LEVEL caps the nesting.
  - tail merging: an append after a last segment smaller than 1 MiB (a small chunk) reads that
    segment back into its buffer and uploads it again with the new bytes, so a chunked upload
    leaves no small segment per request (Swift reads small segments slowly, and old versions
    reject them: min_segment_size). The old tail is deleted once the new manifest is written.
    The last segment is never folded at close(), so the next append can merge it.

Ownership. Every segment and sub-manifest is listed by exactly one manifest: the one of the
writer that made it, until a move hands it over. So deleting a path deletes its manifest first
(the content is gone at once), then every segment and sub-manifest under it, no reference
counting needed. Objects a manifest lists that the driver did not write (another container,
another tool's objects) are never deleted.

truncate(opening size) deletes what this writer uploaded and goes back to the opening manifest,
which is untouched (a writer only writes the manifest at close()). cancel() does the same and,
for a writer that was not appending, deletes the path.

Moving copies no data: the source's manifest is written at the destination (a manifest PUT
listing the same segments), then the source manifest alone is deleted: the segments belong to
the destination now. A replaced destination's segments are deleted afterwards.

What can be left behind: a crash between the two steps of a delete or a move, or two moves
racing to the same destination, can leave segments that no manifest lists (garbage under
<root>segments/, invisible to list(); never a corrupt or partly visible blob).

Reading is a streaming GET (ranged from an offset). With `redirect`, pulls go to a TempURL
signed with tempUrlKey, else with the account's or container's key, else with a key derived
from the password (every DTR process derives the same one) that the driver sets on the
container. Errors become StorageError or PathNotFound; swiftclient retries with backoff.
"""

import base64
import hashlib
import hmac
import io
import json
import re
import threading
import uuid
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from urllib.parse import quote, urlsplit

import requests
import swiftclient
import urllib3
from keystoneauth1 import exceptions as keystone_errors
from keystoneauth1 import session as keystone_session
from keystoneauth1.identity import generic as keystone_identity
from swiftclient.exceptions import ClientException
from swiftclient.utils import generate_temp_url

from . import StorageFull
from .driver import BodyReader, PathNotFound, StorageDriver, StorageError, Writer, path_parts
from .fields import Field, check_options

MiB = 1024 * 1024
FANOUT = 32  # entries folded into one sub-manifest
MAX_LEVEL = 8  # sub-manifest levels: Swift follows nested manifests 10 deep
TAIL_MERGE_LIMIT = MiB  # a smaller last segment is rewritten with the next append's bytes
READ_CHUNK = MiB
DELETE_THREADS = 4

FIELDS = [
    Field(
        "authUrl",
        "Auth URL",
        required=True,
        help="Keystone v3 (https://keystone:5000/v3), v2 (…/v2.0) or tempauth v1 "
        "(http://proxy:8080/auth/v1.0)",
    ),
    Field("username", "User name", required=True, help="v1: account:user"),
    Field("password", "Password", kind="secret", required=True),
    Field("projectName", "Project (tenant) name", help="Keystone only: the v3 project / v2 tenant"),
    Field("domainName", "Domain name", help="Keystone v3 only: user and project domain (Default)"),
    Field("region", "Region", help="Keystone only: the region of the object-store endpoint"),
    Field("container", "Container", required=True, help="Created when missing, if allowed"),
    Field("rootDirectory", "Root directory", default="", help="A prefix for DTR's objects"),
    Field("insecureSkipVerify", "Skip TLS verification", kind="bool", default=False),
    Field("segmentSizeMiB", "Segment size (MiB)", kind="int", default=16, help="1 to 5120"),
    Field("redirect", "Redirect pulls to Swift", kind="bool", default=False, help="By TempURL"),
    Field(
        "tempUrlKey",
        "TempURL key",
        kind="secret",
        help="The account's or container's key; when empty DTR uses or sets the container's",
    ),
]


def from_settings(options: dict) -> "SwiftDriver":
    """A driver for the options an admin entered (see FIELDS); ValueError when they are wrong.
    Nothing is contacted until the driver is used."""
    checked = check_options(FIELDS, options)
    auth_url = checked["authUrl"]
    if not re.match(r"https?://[^/]", auth_url):
        raise ValueError("Auth URL (authUrl) must be an http:// or https:// URL")
    if not _is_v1(auth_url) and not checked["projectName"]:
        raise ValueError(
            "Project (tenant) name (projectName) is required with Keystone (an authUrl that is "
            "not a tempauth …/auth/v1.0 URL)"
        )
    if not 1 <= checked["segmentSizeMiB"] <= 5120:
        raise ValueError("Segment size (segmentSizeMiB) must be between 1 and 5120 (5 GiB)")
    container = checked["container"]
    if "/" in container or len(container) > 256:
        raise ValueError("Container (container) must be a name without '/', at most 256 long")
    try:
        _root_prefix(checked["rootDirectory"])
    except StorageError as error:
        raise ValueError(f"Root directory (rootDirectory): {error}") from None
    return SwiftDriver(
        auth_url,
        checked["username"],
        checked["password"],
        container,
        project_name=checked["projectName"],
        domain_name=checked["domainName"],
        region=checked["region"],
        root_directory=checked["rootDirectory"],
        insecure=checked["insecureSkipVerify"],
        segment_size=checked["segmentSizeMiB"] * MiB,
        redirect=checked["redirect"],
        temp_url_key=checked["tempUrlKey"],
    )


def _is_v1(auth_url):
    return re.search(r"/v1(\.0)?/?$", auth_url) is not None


def _root_prefix(root_directory):
    if not root_directory or not root_directory.strip("/"):
        return ""
    return "/".join(path_parts(root_directory)) + "/"


# Manifests


@dataclass
class _Entry:
    """One entry of an SLO manifest, as PUT: a segment (level 0), a sub-manifest (level k) or
    something another tool wrote (level None: never folded)."""

    path: str  # /container/object
    size_bytes: int | None
    etag: str | None
    length: int  # bytes of content it adds
    level: int | None = 0
    range: str | None = None
    data: str | None = None  # an inline data segment (base64)

    def to_put(self):
        if self.data is not None:
            return {"data": self.data}
        item = {"path": self.path, "size_bytes": self.size_bytes, "etag": self.etag}
        if self.range:
            item["range"] = self.range
        return item

    @classmethod
    def from_stored(cls, item):
        """From a manifest as Swift stores it (GET ?multipart-manifest=get)."""
        if "data" in item:
            return cls("", None, None, len(base64.b64decode(item["data"])), None, data=item["data"])
        length = item["bytes"]
        if item.get("range"):
            first, last = map(int, item["range"].split("-"))
            length = last - first + 1
        level = 0
        if item.get("sub_slo"):
            found = re.search(r"/segments/[0-9a-f]{32}/m(\d+)-\d+$", item["name"])
            level = int(found.group(1)) if found else None
        etag = None if item.get("sub_slo") else item.get("hash")
        return cls(item["name"], item["bytes"], etag, length, level, item.get("range"))


def foldable_run(levels: list, fanout: int = FANOUT) -> int | None:
    """The level of the last `fanout` entries when they can be folded into one sub-manifest
    (all of the same level, below MAX_LEVEL), else None. `levels` are the entries' levels."""
    if len(levels) < fanout:
        return None
    tail = levels[-fanout:]
    level = tail[0]
    if level is None or level >= MAX_LEVEL or any(other != level for other in tail):
        return None
    return level


# Errors


class _RangeNotSatisfiable(StorageError):
    pass


@contextmanager
def _swift_errors(action, path=None):
    """ClientException, keystoneauth and network errors as StorageError (PathNotFound for 404)."""
    try:
        yield
    except ClientException as error:
        status = error.http_status
        if status == 404:
            raise PathNotFound(path if path is not None else action) from error
        if status == 416:
            raise _RangeNotSatisfiable(action) from error
        if status == 401:
            raise StorageError(
                f"{action}: Swift rejected the credentials (401 Unauthorized): check the user "
                "name, password and project"
            ) from error
        if status == 403:
            raise StorageError(
                f"{action}: Swift refused it (403 Forbidden): the user lacks the rights"
            ) from error
        if status is None:
            raise StorageError(f"{action}: {error.msg}") from error
        reason = f"{status} {error.http_reason or ''}".strip()
        body = (error.http_response_content or b"")[:200]
        body = body.decode(errors="replace") if isinstance(body, bytes) else body
        if status == 507 or (status == 413 and "quota" in body.lower()):  # full, or a quota
            raise StorageFull(f"{action}: Swift answered {reason} {body}".strip()) from error
        raise StorageError(f"{action}: Swift answered {reason} {body}".strip()) from error
    except keystone_errors.Unauthorized as error:
        raise StorageError(
            f"{action}: Keystone rejected the credentials: check the user name, password, "
            "project and domain"
        ) from error
    except keystone_errors.ClientException as error:
        raise StorageError(f"{action}: Keystone: {error}") from error
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
        raise StorageError(f"{action}: cannot reach Swift: {error}") from error


# Reading


class SwiftReader(BodyReader):
    """The body of a streaming GET; read(n) returns at most n bytes, read() the rest."""

    def __init__(self, body, path):
        self._body = body
        self._path = path

    def read(self, size=-1):
        if self._body is None:
            return b""
        with _swift_errors(f"reading {self._path!r}"):
            data = self._body.read(None if size is None or size < 0 else size)
        return data or b""


# Writing


class SwiftWriter(Writer):
    def __init__(self, driver: "SwiftDriver", path: str, append: bool):
        self._driver = driver
        self._path = path
        self._name = driver._object(path)
        self._append = append
        self._prefix = f"{driver._root}segments/{uuid.uuid4().hex}/"
        self._buffer = io.BytesIO()
        self._leaves = 0  # segments uploaded: <prefix><n> for n below this
        self._first_live_leaf = 0  # the ones before were deleted by truncate
        self._subs: list[str] = []  # sub-manifests uploaded
        self._closed = False
        self._opening_kind = None  # None (missing), "plain" or "slo"
        self._opening_size = 0
        if append:
            self._opening_kind, self._opening_size = driver._head_kind(self._name, path)
        self._size = self._opening_size
        self._reset()

    def _reset(self):
        """Back to the content the path had when the writer was opened."""
        self._entries: list[_Entry] | None = None  # the opening manifest, read when needed
        self._replaced_tail = None  # a segment merged into the buffer, deleted after close
        self._dirty = False  # this writer has bytes to store
        self._buffer = io.BytesIO()
        self._size = self._opening_size

    @property
    def size(self):
        return self._size

    def write(self, data):
        if self._closed:
            raise StorageError(f"writer of {self._path!r} is closed")
        if not data:
            return
        if not self._dirty:
            self._start()
        view = memoryview(data)
        while view:
            room = self._driver._segment_size - self._buffer.tell()
            self._buffer.write(view[:room])
            view = view[room:]
            if self._buffer.tell() == self._driver._segment_size:
                self._upload_buffer()
        self._size += len(data)

    def _start(self):
        """Before the first bytes: read the opening manifest, merge a small tail."""
        self._dirty = True
        driver = self._driver
        if self._opening_kind == "slo":
            self._entries = driver._manifest(self._name, self._path) or []
            last = self._entries[-1] if self._entries else None
            if (
                last is not None
                and last.level == 0
                and last.range is None
                and driver._segment_name(last) is not None
                and last.length < min(driver._tail_merge_limit, driver._segment_size)
            ):
                self._replaced_tail = driver._segment_name(self._entries.pop())
                self._buffer.write(driver._get_bytes(self._replaced_tail))
        elif self._opening_kind == "plain" and self._opening_size:
            if self._opening_size < min(driver._tail_merge_limit, driver._segment_size):
                self._buffer.write(driver._get_bytes(self._name))
                self._entries = []
            else:  # written by another tool: becomes our first segment, copied inside Swift
                name = self._next_leaf_name()
                driver._copy(self._name, name, self._path)
                self._entries = [
                    _Entry(driver._ref(name), self._opening_size, None, self._opening_size)
                ]
        else:
            self._entries = []

    def _next_leaf_name(self):
        name = f"{self._prefix}{self._leaves:010d}"
        self._leaves += 1
        return name

    def _upload_buffer(self, fold=True):
        length = self._buffer.tell()
        if not length:
            return
        name = self._next_leaf_name()
        self._buffer.seek(0)
        try:
            etag = self._driver._put(name, self._buffer, length)
        finally:  # frees the bytes now: swiftclient keeps a reference to its last request body
            self._buffer.close()
            self._buffer = io.BytesIO()
        self._entries.append(_Entry(self._driver._ref(name), length, etag, length))
        while (
            fold
            and (level := foldable_run([e.level for e in self._entries], self._driver._fanout))
            is not None
        ):
            self._fold(level)

    def _fold(self, level):
        fanout = self._driver._fanout
        run = self._entries[-fanout:]
        name = f"{self._prefix}m{level + 1}-{len(self._subs):08d}"
        self._driver._put_manifest(name, run, self._path)
        self._subs.append(name)
        total = sum(entry.length for entry in run)
        self._entries[-fanout:] = [_Entry(self._driver._ref(name), total, None, total, level + 1)]

    def truncate(self, size):
        if size != self._opening_size:
            raise StorageError(
                f"truncate({size}) of {self._path!r}: only the size the path had when the writer "
                f"was opened ({self._opening_size}) is supported"
            )
        self._delete_own_objects()
        self._reset()

    def commit(self):
        self.close()  # an acknowledged Swift PUT is durable

    def close(self):
        if self._closed:
            return
        driver = self._driver
        if not self._dirty:
            if not (self._append and self._opening_kind is not None):
                replaced = None if self._append else driver._manifest_quietly(self._name)
                driver._put(self._name, b"", 0)  # an empty object at the path
                driver._delete_entries(replaced or [])
            self._closed = True
            return
        self._upload_buffer(fold=False)  # the last segment stays on top: an append may merge it
        replaced = None if self._append else driver._manifest_quietly(self._name)
        driver._put_manifest(self._name, self._entries, self._path)
        self._closed = True
        if self._replaced_tail and self._replaced_tail != self._name:
            driver._delete_names([self._replaced_tail])
        driver._delete_entries(replaced or [])

    def cancel(self):
        if self._closed:
            return
        self._closed = True
        self._delete_own_objects()
        if not self._append:
            self._driver._delete_object(self._name)

    def _delete_own_objects(self):
        leaves = (f"{self._prefix}{n:010d}" for n in range(self._first_live_leaf, self._leaves))
        self._driver._delete_names(chain(self._subs, leaves))
        self._first_live_leaf = self._leaves
        self._subs = []


# The driver


class SwiftDriver(StorageDriver):
    def __init__(
        self,
        auth_url,
        username,
        password,
        container,
        *,
        project_name=None,
        domain_name=None,
        region=None,
        root_directory="",
        insecure=False,
        segment_size=16 * MiB,
        redirect=False,
        temp_url_key=None,
        retries=5,
        starting_backoff=1,
        max_backoff=16,
        timeout=60,
        fanout=FANOUT,
    ):
        self._settings = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.container = container
        self._root = _root_prefix(root_directory)
        self._segment_size = segment_size
        self._fanout = fanout
        self._redirect = redirect
        self._configured_key = temp_url_key
        self._tail_merge_limit = TAIL_MERGE_LIMIT
        self._max_segments = 1000
        self._session = None
        if not _is_v1(auth_url):
            plugin = keystone_identity.Password(  # v2 or v3, as the URL or discovery says
                auth_url=auth_url,
                username=username,
                password=password,
                project_name=project_name,
                user_domain_name=domain_name,  # None with v2: it has no domains
                project_domain_name=domain_name,
                default_domain_name="Default",  # v3 without a domainName
            )
            self._session = keystone_session.Session(
                auth=plugin, verify=not insecure, timeout=timeout
            )
        self._connection_options = dict(
            authurl=auth_url,
            user=username,
            key=password,
            auth_version="1" if self._session is None else "3",
            session=self._session,
            os_options={"region_name": region} if region else {},
            insecure=insecure,
            retries=retries,
            starting_backoff=starting_backoff,
            max_backoff=max_backoff,
            timeout=timeout,
        )
        self._local = threading.local()
        self._connections = weakref.WeakSet()  # to close them; they die with their threads
        self._lock = threading.Lock()
        self._key_lock = threading.Lock()
        self._ready = False
        self._temp_url_key = None
        self._deleter = ThreadPoolExecutor(DELETE_THREADS, thread_name_prefix="dtr-swift-delete")

    def __reduce__(self):
        """Pickled as its settings: the copy is a new driver, as another process builds it."""
        return (_build_driver, (self._settings,))

    # connections and set-up

    def _conn(self) -> swiftclient.Connection:
        """This thread's connection; the first use checks the cluster and the container."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = swiftclient.Connection(**self._connection_options)
            self._local.connection = connection
            with self._lock:
                self._connections.add(connection)
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self._prepare(connection)
                    self._ready = True
        return connection

    def _prepare(self, connection):
        try:
            with _swift_errors(f"checking container {self.container!r}"):
                connection.head_container(self.container)
        except PathNotFound:
            with _swift_errors(f"container {self.container!r} is missing; creating it"):
                connection.put_container(self.container)
        try:
            with _swift_errors("reading the cluster's capabilities (/info)"):
                slo = connection.get_capabilities(connection.url).get("slo")
        except StorageError:  # a cluster may hide /info: assume Swift's defaults
            slo = {}
        if slo is None:
            raise StorageError("the Swift cluster has no Static Large Object support (slo)")
        self._max_segments = int(slo.get("max_manifest_segments", 1000))
        self._fanout = max(2, min(self._fanout, self._max_segments // 4))
        minimum = int(slo.get("min_segment_size", 1))
        if minimum > self._segment_size:
            raise StorageError(
                f"segment size {self._segment_size} is below the cluster's SLO "
                f"min_segment_size {minimum}"
            )
        self._tail_merge_limit = max(TAIL_MERGE_LIMIT, minimum)

    def close(self):
        """Close every connection (the driver may still be used: they reopen)."""
        self._deleter.shutdown(wait=True)
        self._deleter = ThreadPoolExecutor(DELETE_THREADS, thread_name_prefix="dtr-swift-delete")
        with self._lock:
            connections, self._connections = list(self._connections), weakref.WeakSet()
        for connection in connections:
            connection.close()
        self._local = threading.local()

    # names

    def _object(self, path):
        return f"{self._root}files/{'/'.join(path_parts(path))}"

    def _ref(self, name):
        return f"/{self.container}/{name}"

    def _segment_name(self, entry):
        """The object name of a segment or sub-manifest this driver wrote; None for anything
        else a manifest may list (another container, another tool's objects, inline data)."""
        prefix = f"/{self.container}/{self._root}segments/"
        return entry.path[len(self.container) + 2 :] if entry.path.startswith(prefix) else None

    def _logical(self, name):
        return name[len(self._root) + len("files/") :]

    # object operations

    def _call(self, action, method, *args, path=None, **kwargs):
        """connection.method(container, *args, **kwargs) with errors as StorageError."""
        with _swift_errors(action, path):
            return getattr(self._conn(), method)(self.container, *args, **kwargs)

    def _put(self, name, contents, length):
        """PUT `length` bytes from a file (retried from its start) or bytes."""
        chunk_size = READ_CHUNK if hasattr(contents, "read") else None
        return self._call(
            f"storing {name!r}", "put_object", name, contents, content_length=length,
            chunk_size=chunk_size,
        )  # fmt: skip

    def _put_manifest(self, name, entries, path):
        if len(entries) > self._max_segments:
            raise StorageError(
                f"{path!r} would need {len(entries)} manifest entries, more than Swift allows "
                f"({self._max_segments})"
            )
        body = json.dumps([entry.to_put() for entry in entries])
        self._call(
            f"writing the manifest of {path!r}", "put_object", name, body,
            query_string="multipart-manifest=put",
        )  # fmt: skip

    def _get_bytes(self, name):
        return self._call(f"reading {name!r}", "get_object", name)[1]

    def _copy(self, source, destination, path):
        self._call(
            f"copying {path!r}", "copy_object", source, f"/{self.container}/{destination}",
            path=path,
        )  # fmt: skip

    def _head_kind(self, name, path):
        """(kind, size): kind None (missing), "plain" or "slo"."""
        try:
            headers = self._call(f"looking up {path!r}", "head_object", name, path=path)
        except PathNotFound:
            return None, 0
        kind = "slo" if headers.get("x-static-large-object") == "True" else "plain"
        return kind, int(headers["content-length"])

    def _manifest(self, name, path):
        """The entries of the SLO manifest `name`; None when it is a plain object."""
        headers, body = self._call(
            f"reading the manifest of {path!r}", "get_object", name, path=path,
            query_string="multipart-manifest=get",
        )  # fmt: skip
        if headers.get("x-static-large-object") != "True":
            return None
        return [_Entry.from_stored(item) for item in json.loads(body)]

    def _manifest_quietly(self, name):
        """The manifest entries at `name`, [] when missing or plain (before replacing it)."""
        try:
            if self._head_kind(name, name)[0] == "slo":
                return self._manifest(name, name) or []
        except PathNotFound:
            pass
        return []

    def _delete_names(self, names):
        """Delete plain objects (or sub-manifests without their segments); missing is fine."""
        names = iter(names)
        while batch := list(islice(names, 64)):
            list(self._deleter.map(self._delete_one, batch))

    def _delete_one(self, name):
        try:
            self._call(f"deleting {name!r}", "delete_object", name)
        except PathNotFound:
            pass

    def _delete_entries(self, entries, keep=frozenset()):
        """Delete the segments and sub-manifests (with theirs) of a manifest already gone."""
        self._delete_names(self._tree_names(entries, keep))

    def _tree_names(self, entries, keep):
        for entry in entries:
            name = self._segment_name(entry)
            if name is None or entry.path in keep:  # never delete what the driver did not write
                continue
            if entry.level != 0:
                yield from self._tree_names(self._manifest_quietly(name), keep)
            yield name

    def _delete_object(self, name):
        """Delete the object `name`: the manifest first (the content is gone at once), then
        its segments."""
        entries = self._manifest_quietly(name)
        self._delete_one(name)
        self._delete_entries(entries)

    def _names(self, prefix, end_marker=None):
        """Object names under `prefix`, a page (10000) at a time."""
        marker = ""
        while True:
            _headers, page = self._call(
                f"listing {prefix!r}", "get_container", prefix=prefix, marker=marker,
                end_marker=end_marker,
            )  # fmt: skip
            if not page:
                return
            for item in page:
                yield item["name"]
            marker = page[-1]["name"]

    # the StorageDriver interface

    def reader(self, path, offset=0):
        headers = {"Range": f"bytes={offset}-"} if offset else None
        try:
            _headers, body = self._call(
                f"reading {path!r}", "get_object", self._object(path), path=path,
                resp_chunk_size=READ_CHUNK, headers=headers,
            )  # fmt: skip
        except _RangeNotSatisfiable:  # offset at or past the end
            return SwiftReader(None, path)
        return SwiftReader(body, path)

    def writer(self, path, append=False):
        return SwiftWriter(self, path, append)

    def stat(self, path):
        kind, size = self._head_kind(self._object(path), path)
        return None if kind is None else size

    def list(self, prefix) -> Iterator[str]:
        name = self._object(prefix)
        # Names that start with `name` and sort before `name + "0"` are `name` itself and `name`
        # followed by one of ` !"#$%&'()*+,-./` ("/" last): of those, keep name and name/...
        for found in self._names(name, end_marker=name + "0"):
            if found == name or found.startswith(name + "/"):
                yield self._logical(found)

    def move(self, source, destination):
        source_name, target_name = self._object(source), self._object(destination)
        if source_name == target_name:
            if self.stat(source) is None:
                raise PathNotFound(source)
            return
        kind, _size = self._head_kind(source_name, source)
        if kind is None:
            raise PathNotFound(source)
        replaced = self._manifest_quietly(target_name)
        if kind == "slo":
            entries = self._manifest(source_name, source)
            self._put_manifest(target_name, entries, destination)
            kept = {entry.path for entry in entries}
        else:  # an empty object, or one another tool wrote: copied inside Swift
            self._copy(source_name, target_name, source)
            kept = set()
        self._delete_one(source_name)  # the manifest only: its segments are the target's now
        self._delete_entries(replaced, keep=kept)

    def delete(self, path):
        name = self._object(path)
        self._delete_object(name)
        for found in self._names(name + "/"):  # pages go by name: deleting is safe
            self._delete_object(found)

    def download_url(self, path, expires_in):
        if not self._redirect:
            return None
        name = self._object(path)
        key = self._signing_key()
        parts = urlsplit(self._storage_url())
        object_path = f"{parts.path}/{quote(self.container)}/{quote(name)}"
        signed = generate_temp_url(object_path, int(expires_in), key, "GET")
        return f"{parts.scheme}://{parts.netloc}{signed}"

    def _storage_url(self):
        connection = self._conn()
        if connection.url is None:
            with _swift_errors("authenticating to Swift"):
                connection.get_auth()
        return connection.url

    def _signing_key(self):
        """The TempURL key: the configured one (set on the container unless the account or
        container has it), else the account's or container's, else one derived from the
        password (every DTR process derives the same: no race) set on the container."""
        with self._key_lock:  # not self._lock: _conn() takes it
            if self._temp_url_key is None:
                self._temp_url_key = self._find_or_set_key()
            return self._temp_url_key

    def _find_or_set_key(self):
        connection = self._conn()
        try:
            with _swift_errors("reading the account's TempURL keys"):
                account = connection.head_account()
        except StorageError:  # a user with rights on the container only
            account = {}
        with _swift_errors("reading the container's TempURL keys"):
            container = connection.head_container(self.container)
        keys = [
            account.get("x-account-meta-temp-url-key"),
            account.get("x-account-meta-temp-url-key-2"),
            container.get("x-container-meta-temp-url-key"),
            container.get("x-container-meta-temp-url-key-2"),
        ]
        key = self._configured_key or next((key for key in keys if key), None)
        if key is None or key not in keys:
            key = key or self._derived_key()
            with _swift_errors(f"setting the TempURL key of container {self.container!r}"):
                connection.post_container(self.container, {"X-Container-Meta-Temp-URL-Key": key})
        return key

    def _derived_key(self):
        password = self._settings["password"].encode()
        label = f"dtr temp url key {self.container}".encode()
        return hmac.new(password, label, hashlib.sha256).hexdigest()


def _build_driver(settings):
    return SwiftDriver(**settings)
