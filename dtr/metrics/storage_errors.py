"""Storage errors by backend: the driver in use, wrapped so that every StorageError it
raises (PathNotFound aside: a missing path is an answer, not a failure) is counted under
its backend's name and the operation, then raised unchanged. Writers are wrapped too (a
write, a commit on close); a reader's stream is not (an error reading midway, rare and
raised by the SDK's stream, is not counted)."""

from ..storage import PathNotFound, StorageDriver, StorageError, create_driver
from .instruments import storage_errors


class _Counting:
    def __init__(self, backend):
        self._backend = backend

    def _call(self, operation, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except PathNotFound:
            raise
        except StorageError:
            storage_errors.labels(self._backend, operation).inc()
            raise


class CountingWriter(_Counting):
    def __init__(self, writer, backend):
        super().__init__(backend)
        self._writer = writer

    def write(self, data):
        return self._call("write", self._writer.write, data)

    @property
    def size(self):
        return self._writer.size

    def commit(self):
        return self._call("commit", self._writer.commit)

    def close(self):
        return self._call("close", self._writer.close)

    def cancel(self):
        return self._call("cancel", self._writer.cancel)

    def truncate(self, size):
        return self._call("truncate", self._writer.truncate, size)

    def __getattr__(self, name):
        return getattr(self._writer, name)


class CountingDriver(_Counting):
    """`driver`, counting its errors as `backend` (filesystem, s3, azure, swift)."""

    def __init__(self, driver: StorageDriver, backend: str):
        super().__init__(backend)
        self.driver = driver

    def reader(self, path, offset=0):
        return self._call("reader", self.driver.reader, path, offset)

    def writer(self, path, append=False):
        writer = self._call("writer", self.driver.writer, path, append)
        return CountingWriter(writer, self._backend)

    def stat(self, path):
        return self._call("stat", self.driver.stat, path)

    def list(self, prefix):
        try:
            yield from self.driver.list(prefix)
        except PathNotFound:
            raise
        except StorageError:
            storage_errors.labels(self._backend, "list").inc()
            raise

    def move(self, source, destination):
        return self._call("move", self.driver.move, source, destination)

    def delete(self, path):
        return self._call("delete", self.driver.delete, path)

    def delete_files(self, paths):
        failed = self._call("delete_files", self.driver.delete_files, paths)
        if failed:
            storage_errors.labels(self._backend, "delete_files").inc(len(failed))
        return failed

    def __getattr__(self, name):
        """free_bytes, local_path, download_url and a backend's own attributes."""
        return getattr(self.driver, name)


def counting_errors(driver: StorageDriver, backend: str) -> CountingDriver:
    if isinstance(driver, CountingDriver):
        return driver
    return CountingDriver(driver, backend)


def create_counted_driver(backend: str, options: dict) -> CountingDriver:
    """`storage.create_driver`, counting a failure to open the backend (a root folder that
    cannot be created) as operation `open`."""
    try:
        driver = create_driver(backend, options)
    except PathNotFound:
        raise
    except StorageError:
        storage_errors.labels(backend, "open").inc()
        raise
    return CountingDriver(driver, backend)
