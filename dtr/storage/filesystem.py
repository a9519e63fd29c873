"""The local filesystem driver: writes fsync'ed, moves by atomic rename. A write that finds
no room (ENOSPC, EDQUOT) raises StorageFull with the bytes left; other OS errors of writes
and moves raise StorageError."""

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
from pathlib import Path

from .driver import PathNotFound, StorageDriver, StorageError, StorageFull, Writer, path_parts
from .fields import Field, check_options

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
# unlink(2) called without releasing the GIL (see FilesystemDriver.delete_files)
_unlink_holding_gil = ctypes.PyDLL(ctypes.util.find_library("c"), use_errno=True).unlink
_unlink_holding_gil.argtypes = [ctypes.c_char_p]
_unlink_holding_gil.restype = ctypes.c_int
_SYNC_FILE_RANGE_WRITE = 2
_WRITEBACK_STEP = 8 * 1024 * 1024

FIELDS = [
    Field(
        "rootDirectory",
        "Root directory",
        required=True,
        help="An absolute folder on the DTR server (created when missing); the default is "
        "the instance's storage folder.",
    ),
]


def from_settings(options: dict) -> "FilesystemDriver":
    """A driver for the backend's options (see FIELDS); ValueError on bad options."""
    root = check_options(FIELDS, options)["rootDirectory"]
    if not os.path.isabs(root):
        raise ValueError(f"Root directory (rootDirectory) {root!r} must be an absolute path")
    try:
        return FilesystemDriver(root)
    except OSError as error:
        raise StorageError(f"cannot create or use the folder {root}: {error.strerror}") from error


_NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


def free_bytes_at(path) -> int | None:
    """Bytes an unprivileged writer can still use on the filesystem of `path`."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


@contextlib.contextmanager
def _os_errors(path: Path, action: str):
    """OSError of `action` on `path` as StorageFull (no room) or StorageError."""
    try:
        yield
    except OSError as error:
        if error.errno in _NO_ROOM:
            folder = next((p for p in (path, *path.parents) if p.exists()), path)
            free = free_bytes_at(folder)
            raise StorageFull(f"{action} {path.name}: {error.strerror}", free) from error
        raise StorageError(f"{action} {path}: {error.strerror or error}") from error


def _start_writeback(fd, offset, length):
    """Ask the kernel to start writing a range to disk now, without waiting (Linux), so
    that the fsync of a large blob at commit has little left to do."""
    sync_file_range = getattr(_libc, "sync_file_range", None)
    if sync_file_range is not None:
        sync_file_range(fd, ctypes.c_int64(offset), ctypes.c_int64(length), _SYNC_FILE_RANGE_WRITE)


class FilesystemWriter(Writer):
    def __init__(self, file_path: Path, append: bool):
        self._path = file_path
        with _os_errors(file_path, "create"):
            file_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(file_path, "ab" if append else "wb", buffering=0)
        self._size = self._file.tell()
        self._flushed = self._size
        self._opening_size = self._size if append else None  # None: this writer created it

    def write(self, data):
        view = memoryview(data)
        with _os_errors(self._path, "write"):
            while view:  # an unbuffered write may be partial
                view = view[self._file.write(view) :]
        self._size += len(data)
        if self._size - self._flushed >= _WRITEBACK_STEP:
            _start_writeback(self._file.fileno(), self._flushed, self._size - self._flushed)
            self._flushed = self._size

    @property
    def size(self):
        return self._size

    def truncate(self, size):
        with _os_errors(self._path, "truncate"):
            self._file.truncate(size)
            self._file.seek(size)
        self._size = self._flushed = size

    def commit(self):
        with _os_errors(self._path, "commit"):
            try:
                os.fsync(self._file.fileno())
            finally:
                self._file.close()

    def close(self):
        with _os_errors(self._path, "close"):
            self._file.close()

    def cancel(self):
        with _os_errors(self._path, "cancel"):
            if self._opening_size is None:
                self._file.close()
                self._path.unlink(missing_ok=True)
            else:  # an append: the content from before this writer stays
                try:
                    self._file.truncate(self._opening_size)
                finally:
                    self._file.close()


class FilesystemDriver(StorageDriver):
    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _full(self, path):
        return self.root.joinpath(*path_parts(path))

    def reader(self, path, offset=0):
        try:
            file = open(self._full(path), "rb")
        except FileNotFoundError as error:
            raise PathNotFound(path) from error
        file.seek(offset)
        return file

    def writer(self, path, append=False):
        return FilesystemWriter(self._full(path), append)

    def stat(self, path):
        try:
            return self._full(path).stat().st_size
        except FileNotFoundError:
            return None

    def list(self, prefix):
        base = self._full(prefix)
        if base.is_file():
            yield prefix.strip("/")
            return
        for folder, _dirs, files in os.walk(base):
            for name in files:
                yield str((Path(folder) / name).relative_to(self.root))

    def move(self, source, destination):
        target = self._full(destination)
        with _os_errors(target, "move to"):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(self._full(source), target)
            except FileNotFoundError as error:
                raise PathNotFound(source) from error
            directory = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def delete(self, path):
        full = self._full(path)
        if full.is_dir():
            shutil.rmtree(full, ignore_errors=True)
        else:
            full.unlink(missing_ok=True)

    def delete_files(self, paths):
        """Unlink each file without letting go of the GIL: a local unlink takes some
        microseconds, while getting the GIL back after a system call can take a switch
        interval (5 ms) when the server's threads are busy: 50,000 files would take minutes
        of garbage collection instead of seconds."""
        failed = {}
        root = os.fsencode(self.root) + b"/"
        for path in paths:
            if _unlink_holding_gil(root + "/".join(path_parts(path)).encode()) != 0:
                error = ctypes.get_errno()
                if error != errno.ENOENT:
                    failed[path] = os.strerror(error)
        return failed

    def free_bytes(self):
        return free_bytes_at(self.root)

    def local_path(self, path):
        full = self._full(path)
        return str(full) if full.exists() else None
