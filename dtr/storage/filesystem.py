"""The local filesystem driver: writes fsync'ed, moves by atomic rename."""

import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

from .driver import PathNotFound, StorageDriver, StorageError, Writer

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_SYNC_FILE_RANGE_WRITE = 2
_WRITEBACK_STEP = 8 * 1024 * 1024


def _start_writeback(fd, offset, length):
    """Ask the kernel to start writing a range to disk now, without waiting (Linux), so
    that the fsync of a large blob at commit has little left to do."""
    sync_file_range = getattr(_libc, "sync_file_range", None)
    if sync_file_range is not None:
        sync_file_range(fd, ctypes.c_int64(offset), ctypes.c_int64(length), _SYNC_FILE_RANGE_WRITE)


class FilesystemWriter(Writer):
    def __init__(self, file_path: Path, append: bool):
        file_path.parent.mkdir(parents=True, exist_ok=True)
        self._path = file_path
        self._file = open(file_path, "ab" if append else "wb", buffering=0)
        self._size = self._file.tell()
        self._flushed = self._size

    def write(self, data):
        view = memoryview(data)
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
        self._file.truncate(size)
        self._file.seek(size)
        self._size = self._flushed = size

    def commit(self):
        os.fsync(self._file.fileno())
        self._file.close()

    def close(self):
        self._file.close()

    def cancel(self):
        self._file.close()
        self._path.unlink(missing_ok=True)


class FilesystemDriver(StorageDriver):
    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _full(self, path):
        parts = path.strip("/").split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise StorageError(f"invalid storage path {path!r}")
        return self.root.joinpath(*parts)

    def reader(self, path, offset=0):
        try:
            file = open(self._full(path), "rb")
        except FileNotFoundError as error:
            raise PathNotFound(path) from error
        file.seek(offset)
        return file

    def writer(self, path, append=False):
        try:
            return FilesystemWriter(self._full(path), append)
        except OSError as error:
            raise StorageError(str(error)) from error

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

    def local_path(self, path):
        full = self._full(path)
        return str(full) if full.exists() else None
