"""Blob uploads: POST (start, monolithic, mount), PATCH (chunk), PUT (finish), GET (status),
DELETE (cancel)."""

import re

from flask import request

from .. import access
from ..errors import BlobUploadInvalid, DomainError, RangeInvalid
from ..metrics.instruments import receiving_upload
from ..names import check_digest, split_repository_name
from ..services import uploads
from ..services.blobs import find_linked_blob, link_blob
from ..services.repositories import find_repository
from .authorization import actions_on, repository_scope
from .errors import domain_error_response
from .repository_lookup import authorized_repository
from .request_body import body_stream

_CONTENT_RANGE = re.compile(r"^(?:bytes )?([0-9]{1,19})-([0-9]{1,19})\Z")  # ASCII, bounded


def _upload_headers(name, upload_id, size):
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": f"0-{max(size - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
        "Content-Length": "0",
    }


def _blob_created(name, digest):
    return "", 201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}


def start_upload(name):
    args = request.args
    repository, caller = authorized_repository(name, access.PUSH, _mount_scope(args))
    if "mount" in args:
        digest = check_digest(args["mount"])
        if _mount(repository, caller, digest, args.get("from")):
            return _blob_created(name, digest)
    if "digest" in args:
        with receiving_upload():
            uploads.monolithic_upload(
                repository, args["digest"], body_stream(), request.content_length
            )
        return _blob_created(name, args["digest"])
    upload_id = uploads.start_upload(repository, caller.name)
    return "", 202, _upload_headers(name, upload_id, 0)


def _mount_scope(args):
    """A mount also needs pull on its source: the challenge names both scopes (as CNCF
    distribution does), so that a client following it gets a token that allows the mount."""
    source = args.get("from")
    if "mount" not in args or not source:
        return None
    try:
        split_repository_name(source)
    except DomainError:
        return None
    return repository_scope(source, access.PULL)


def _mount(repository, caller, digest, source):
    """Link a blob from another repository the caller may pull; False to fall back."""
    if not source:
        return False
    try:
        split_repository_name(source)
        if access.PULL not in actions_on(caller, source):
            return False
        source_repository = find_repository(source)
        if source_repository is None:
            return False
        blob = find_linked_blob(source_repository, digest)
        link_blob(repository, digest, blob.size)
    except DomainError:  # BlobUnknown too: garbage collection took it meanwhile
        return False
    return True


def _content_range():
    header = request.headers.get("Content-Range")
    if not header:
        return None
    match = _CONTENT_RANGE.match(header.strip())
    if not match or int(match[2]) < int(match[1]):
        raise BlobUploadInvalid(f"malformed Content-Range {header!r}; expected START-END")
    return int(match[1]), int(match[2])


def patch_upload(name, upload_id):
    repository, _ = authorized_repository(name, access.PUSH)
    try:
        with receiving_upload():
            size = uploads.append_chunk(
                repository, upload_id, body_stream(), request.content_length, _content_range()
            )
    except RangeInvalid as error:
        response = domain_error_response(error)
        response.headers.update(_upload_headers(name, upload_id, error.current_size))
        del response.headers["Content-Length"]
        return response
    return "", 202, _upload_headers(name, upload_id, size)


def finish_upload(name, upload_id):
    repository, _ = authorized_repository(name, access.PUSH)
    digest = request.args.get("digest")
    with receiving_upload():
        uploads.finish_upload(repository, upload_id, digest, body_stream(), request.content_length)
    return _blob_created(name, digest)


def upload_status(name, upload_id):
    repository, _ = authorized_repository(name, access.PUSH)
    size = uploads.upload_size(repository, upload_id)
    return "", 204, _upload_headers(name, upload_id, size)


def cancel_upload(name, upload_id):
    repository, _ = authorized_repository(name, access.PUSH)
    uploads.cancel_upload(repository, upload_id)
    return "", 204
