"""The local filesystem driver: writes fsync'ed, moves by atomic rename."""

import os
import shutil
from pathlib import Path

from .driver import PathNotFound, StorageDriver, StorageError, Writer


class FilesystemWriter(Writer):
    def __init__(self, file_path: Path, append: bool):
        file_path.parent.mkdir(parents=True, exist_ok=True)
        self._path = file_path
        self._file = open(file_path, "ab" if append else "wb", buffering=0)
        self._size = self._file.tell()

    def write(self, data):
        view = memoryview(data)
        while view:  # an unbuffered write may be partial
            view = view[self._file.write(view) :]
        self._size += len(data)

    @property
    def size(self):
        return self._size

    def truncate(self, size):
        self._file.truncate(size)
        self._file.seek(size)
        self._size = size

    def commit(self):
        os.fsync(self._file.fileno())
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
