"""Storage drivers: where blob bytes live. See `driver.py` for the interface and `layout.py`
for the paths the registry uses. A driver knows nothing of registries.

Each backend is a module of this package with `FIELDS` (its options, see `fields.py`) and
`from_settings(options) -> driver`. A backend's module is imported on first use only: each
pulls in its SDK (boto3, azure-storage-blob, python-swiftclient), several MiB apiece.
"""

import functools
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

from .driver import PathNotFound, StorageDriver, StorageError, StorageFull
from .fields import Field
from .filesystem import FilesystemDriver

__all__ = [
    "BACKENDS",
    "FilesystemDriver",
    "PathNotFound",
    "StorageDriver",
    "StorageError",
    "StorageFull",
    "backend_fields",
    "create_driver",
    "current_storage",
]

BACKENDS = ("filesystem", "s3", "azure", "swift")


def _module_name(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown storage backend {backend!r}: one of {', '.join(BACKENDS)}")
    return f"{__name__}.{backend}"


def backend_fields(backend: str) -> list[Field]:
    """The options of a backend, as its settings form shows them."""
    module = sys.modules.get(_module_name(backend))
    return module.FIELDS if module is not None else _fields_of_backends_not_in_use()[backend]


@functools.cache
def _fields_of_backends_not_in_use() -> dict[str, list[Field]]:
    """Every backend's FIELDS, read by a short-lived Python process once: importing backends
    here only to describe their settings forms would load their SDKs (8-12 MiB each) into
    the worker for good, though one backend at most is in use."""
    code = (
        "import dataclasses, importlib, json\n"
        f"backends = {list(BACKENDS)!r}\n"
        "print(json.dumps({b: [dataclasses.asdict(f) for f in "
        "importlib.import_module('dtr.storage.' + b).FIELDS] for b in backends}))"
    )
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    described = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    if described.returncode != 0:
        raise RuntimeError(f"describing the storage backends failed: {described.stderr[-2000:]}")
    return {
        backend: [Field(**field) for field in fields]
        for backend, fields in json.loads(described.stdout).items()
    }


def create_driver(backend: str, options: dict) -> StorageDriver:
    """A driver of `backend` with `options`; ValueError naming what is wrong with them.
    Nothing is contacted yet."""
    return importlib.import_module(_module_name(backend)).from_settings(options)


def current_storage() -> StorageDriver:
    """The driver of the storage setting in force (see `services/storage_settings.py`): a
    saved change applies in every process within seconds, from the next request or job.

    One request (one application context) keeps the driver it first got: a push whose
    bytes moved on one backend must not check them on another when the setting changes
    between its two calls."""
    from flask import current_app, g

    pinned = g.get("dtr_storage_driver")
    if pinned is None:
        pinned = g.dtr_storage_driver = current_app.extensions["dtr_storage"].driver()
    return pinned
