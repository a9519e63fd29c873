"""Storage drivers: where blob bytes live. See `driver.py` for the interface and `layout.py`
for the paths the registry uses. A driver knows nothing of registries."""

from .driver import PathNotFound, StorageDriver, StorageError
from .filesystem import FilesystemDriver

__all__ = ["StorageDriver", "StorageError", "PathNotFound", "FilesystemDriver", "create_driver"]


def create_driver(config):
    """Build the configured driver."""
    backend = config.get("STORAGE_BACKEND", "filesystem")
    if backend == "filesystem":
        return FilesystemDriver(config["STORAGE_ROOT"])
    raise StorageError(f"unknown storage backend {backend!r}")


def current_storage() -> StorageDriver:
    """The driver of the running application."""
    from flask import current_app

    return current_app.extensions["dtr_storage"]
