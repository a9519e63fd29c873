"""Blob download (GET/HEAD with Range) and unlinking (DELETE)."""

from flask import Response, send_file

from .. import access
from ..names import check_digest
from ..services.blobs import find_linked_blob, unlink_blob
from ..storage import current_storage
from ..storage.layout import blob_path
from .repository_lookup import authorized_repository


def get_blob(name, digest):
    repository, _ = authorized_repository(name, access.PULL)
    check_digest(digest)
    blob = find_linked_blob(repository, digest)
    storage = current_storage()
    path = blob_path(digest)
    local = storage.local_path(path)
    if local is not None:
        response = send_file(
            local, mimetype="application/octet-stream", conditional=True, etag=False, max_age=None
        )
    else:
        response = Response(_stream(storage.reader(path)), mimetype="application/octet-stream")
        response.headers["Content-Length"] = str(blob.size)
    response.headers["Docker-Content-Digest"] = digest
    response.headers["ETag"] = f'"{digest}"'
    response.headers["Cache-Control"] = "max-age=31536000"
    response.headers["Accept-Ranges"] = "bytes"
    return response


def _stream(reader, chunk=1024 * 1024):
    with reader:
        while data := reader.read(chunk):
            yield data


def delete_blob(name, digest):
    repository, _ = authorized_repository(name, access.DELETE)
    check_digest(digest)
    unlink_blob(repository, digest)
    return "", 202, {"Docker-Content-Digest": digest}
