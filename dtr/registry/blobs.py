"""Blob download (GET/HEAD with Range) and unlinking (DELETE)."""

from flask import Response, request, send_file

from .. import access
from ..names import check_digest
from ..services.blobs import linked_blob_size, unlink_blob
from ..storage import current_storage
from ..storage.layout import blob_path
from .repository_lookup import authorized_repository


def get_blob(name, digest):
    repository, _ = authorized_repository(name, access.PULL)
    check_digest(digest)
    size = linked_blob_size(repository, digest)
    if request.method == "HEAD":  # answered from the database, the file is not opened
        response = Response(status=200, mimetype="application/octet-stream")
        response.headers["Content-Length"] = str(size)
    else:
        response = _blob_body(digest, size)
    response.headers["Docker-Content-Digest"] = digest
    response.headers["ETag"] = f'"{digest}"'
    response.headers["Cache-Control"] = "max-age=31536000"
    response.headers["Accept-Ranges"] = "bytes"
    return response


def _blob_body(digest, size):
    storage = current_storage()
    path = blob_path(digest)
    local = storage.local_path(path)
    if local is not None:  # sendfile under gunicorn; werkzeug answers Range requests
        return send_file(
            local, mimetype="application/octet-stream", conditional=True, etag=False, max_age=None
        )
    response = Response(_stream(storage.reader(path)), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(size)
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
