"""Blob download (GET/HEAD with Range) and unlinking (DELETE)."""

from flask import Response, redirect, request, send_file, stream_with_context

from .. import access
from ..names import check_digest
from ..services import pull_through
from ..services.blobs import check_stored_size, linked_blob_size
from ..services.deletion import unlink_blob
from ..services.proxy_caches import proxy_of
from ..services.repositories import lookup_repository
from ..storage import current_storage
from ..storage.layout import blob_path
from .repository_lookup import authorized_repository

OCTET_STREAM = "application/octet-stream"
REDIRECT_SECONDS = 20 * 60  # lifetime of a pre-signed download URL
UNSATISFIABLE = "unsatisfiable"


def get_blob(name, digest):
    repository, _ = authorized_repository(name, access.PULL)
    check_digest(digest)
    proxy = proxy_of(name) if repository.proxied else None
    if proxy is not None:
        mirrored = _mirrored_blob(proxy, repository, name, digest)
        if mirrored is not None:
            return _blob_headers(mirrored, digest)
        repository = lookup_repository(name)
    size = linked_blob_size(repository, digest)
    if request.method == "HEAD":  # answered from the database, the file is not opened
        response = Response(status=200, mimetype=OCTET_STREAM)
        response.headers["Content-Length"] = str(size)
    else:
        response = _blob_body(digest, size)
    return _blob_headers(response, digest)


def _blob_headers(response, digest):
    response.headers["Docker-Content-Digest"] = digest
    response.headers["ETag"] = f'"{digest}"'
    response.headers["Cache-Control"] = "max-age=31536000"
    response.headers["Accept-Ranges"] = "bytes"
    return response


def _mirrored_blob(proxy, repository, name, digest):
    """A blob of a proxy namespace not cached yet: its size from the upstream (HEAD), or
    its bytes streamed from it while they are stored (GET); None once it is cached."""
    if request.method == "HEAD":
        if pull_through.cached_blob(proxy, repository, name, digest):
            return None
        response = Response(status=200, mimetype=OCTET_STREAM)
        response.headers["Content-Length"] = str(
            pull_through.upstream_blob_size(proxy, name, digest)
        )
        return response
    fetch = pull_through.blob_to_fetch(proxy, repository, name, digest)
    if fetch is None:
        return None
    response = Response(stream_with_context(fetch.chunks()), 200, mimetype=OCTET_STREAM)
    response.call_on_close(fetch.close)
    if fetch.size is not None:
        response.headers["Content-Length"] = str(fetch.size)
    return response


def _blob_body(digest, size):
    """The bytes: sendfile from a local file; else a redirect to the backend's short-lived
    URL (its `redirect` option); else streamed through DTR, Range requests included. The
    stored object's size is checked first: a damaged one is never served."""
    storage = current_storage()
    path = blob_path(digest)
    check_stored_size(digest, size)
    local = storage.local_path(path)
    if local is not None:  # sendfile under gunicorn; werkzeug answers Range requests
        return send_file(local, mimetype=OCTET_STREAM, conditional=True, etag=False, max_age=None)
    url = storage.download_url(path, REDIRECT_SECONDS)
    if url is not None:
        return redirect(url, 307)
    wanted = _requested_range(digest, size)
    if wanted == UNSATISFIABLE:
        return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
    start, stop = wanted or (0, size)
    reader = storage.reader(path, start)
    response = Response(_stream(reader, stop - start), 206 if wanted else 200)
    response.call_on_close(reader.close)  # also when the body was never iterated
    response.mimetype = OCTET_STREAM
    response.headers["Content-Length"] = str(stop - start)
    if wanted:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return response


def _requested_range(digest, size):
    """(start, stop) of a single-range Range request, UNSATISFIABLE, or None for the whole
    blob (no Range, several ranges, or an If-Range that is not this blob)."""
    wanted = request.range
    if wanted is None or wanted.units != "bytes" or len(wanted.ranges) != 1:
        return None
    if request.headers.get("If-Range") and request.if_range.etag != digest:
        return None
    return wanted.range_for_length(size) or UNSATISFIABLE


def _stream(reader, length, chunk=1024 * 1024):
    """`length` bytes of the reader, a chunk at a time."""
    while length > 0 and (data := reader.read(min(chunk, length))):
        length -= len(data)
        yield data


def delete_blob(name, digest):
    repository, caller = authorized_repository(name, access.DELETE)
    check_digest(digest)
    unlink_blob(repository, name, digest, caller.name)
    return "", 202, {"Docker-Content-Digest": digest}
