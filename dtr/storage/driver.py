"""The storage driver interface, in the spirit of CNCF distribution's storagedriver.

Paths are relative, `/`-separated, without `..`. Writers append to a path and are made durable
by `commit()`; after `close()` or `commit()` the content (old + appended) is readable at the
path and a later `writer(path, append=True)` continues it, also from another process.
`move()` is atomic, so content reaches its final path whole or not at all.
"""

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import BinaryIO


class StorageError(Exception):
    """The backend failed (I/O error, credentials, network)."""


class PathNotFound(StorageError):
    pass


class StorageFull(StorageError):
    """The backend has no room for what is being written (a full disk, a quota).
    `free_bytes`: what the backend says is left, when it can tell (None otherwise)."""

    def __init__(self, reason: str, free_bytes: int | None = None):
        self.summary = "storage full" + ("" if free_bytes is None else f": {free_bytes} bytes free")
        super().__init__(f"{self.summary} ({reason})")
        self.reason = reason
        self.free_bytes = free_bytes


def path_parts(path: str) -> list[str]:
    """The components of a storage path; StorageError for an empty component, `.`, `..` or a
    NUL byte, so that no driver can be led outside its root."""
    parts = path.strip("/").split("/")
    if any(part in ("", ".", "..") for part in parts) or "\0" in path:
        raise StorageError(f"invalid storage path {path!r}")
    return parts


class BodyReader(io.RawIOBase):
    """A raw stream whose subclass implements `read(size)` over `self._body`, a response
    body of a backend's SDK (closed with the stream)."""

    _body = None

    def readable(self):
        return True

    def readall(self):
        return self.read()

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self):
        if self._body is not None:
            self._body.close()
            self._body = None
        super().close()


class Writer(ABC):
    """Appends bytes to one path."""

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @property
    @abstractmethod
    def size(self) -> int:
        """Bytes stored at the path so far, this writer's included."""

    @abstractmethod
    def commit(self) -> None:
        """Make what was written durable and close."""

    @abstractmethod
    def close(self) -> None:
        """Close, keeping what was written (not necessarily durable yet: see `commit`)."""

    @abstractmethod
    def cancel(self) -> None:
        """Forget what this writer wrote and close."""

    @abstractmethod
    def truncate(self, size: int) -> None:
        """Drop what this writer wrote (a partly received chunk): `size` is the size the path
        had when the writer was opened. Writing may continue afterwards."""


class StorageDriver(ABC):
    @abstractmethod
    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """A stream of the content from `offset`; raises PathNotFound."""

    @abstractmethod
    def writer(self, path: str, append: bool = False) -> Writer:
        """A writer that creates the path (or continues it when `append`)."""

    @abstractmethod
    def stat(self, path: str) -> int | None:
        """Size in bytes, or None when the path does not exist."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]:
        """Every path under `prefix`."""

    @abstractmethod
    def move(self, source: str, destination: str) -> None:
        """Atomically move content, replacing the destination."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Delete a path or a folder of paths; missing paths are not an error."""

    def delete_files(self, paths: Sequence[str]) -> dict[str, str]:
        """Delete many files (not folders); missing ones are not an error. Returns
        {path: reason} for those that could not be deleted. Backends with a batch call
        (garbage collection deletes thousands) override it."""
        failed = {}
        for path in paths:
            try:
                self.delete(path)
            except StorageError as error:
                failed[path] = str(error)
        return failed

    def free_bytes(self) -> int | None:
        """Bytes that can still be written, when the backend can tell (a filesystem)."""
        return None

    def local_path(self, path: str) -> str | None:
        """A local file path for zero-copy serving (sendfile), when the backend has one."""
        return None

    def download_url(self, path: str, expires_in: int) -> str | None:
        """A short-lived URL the client may download from directly, when supported."""
        return None
