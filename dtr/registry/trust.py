"""The Notary-v1 trust API at the registry's own address (Docker Content Trust).

GET    /v2/<gun>/_trust/tuf/<role>.json, <role>.<sha256>.json, <version>.<role>.json
GET    /v2/<gun>/_trust/tuf/timestamp.key, snapshot.key   the server's public keys
POST   /v2/<gun>/_trust/tuf/    multipart, one file per role (file name = role)
DELETE /v2/<gun>/_trust/tuf/    all trust data of the GUN (repository admins)

<gun> is HOST/ns/repo: the docker CLI asks for tokens with that name, the token service
grants what the access function allows on ns/repo. Reading needs pull, writing push.
"""

import re

from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import access
from ..errors import NameUnknown
from ..services import content_trust
from ..services.content_trust import TrustUpdateInvalid
from ..services.repositories import lookup_repository
from ..trust.gun import repository_name
from ..trust.metadata import MAX_METADATA_BYTES, SNAPSHOT, TIMESTAMP, is_valid_role
from .authorization import current_caller, repository_scope, require
from .errors import oci_error

CHECKSUM = re.compile(r"^(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128})$")
MAX_UPDATE_BYTES = 32 * 1024 * 1024


def _authorized(gun, action):
    """The repository of a GUN, after checking the caller may do `action` on it."""
    name = repository_name(gun)
    caller = current_caller(repository_scope(gun, action))
    require(caller, name, action, token_name=gun)
    repository = lookup_repository(name)
    if repository is None:
        raise NameUnknown(f"repository {name} does not exist", {"name": name})
    return repository, caller


def _bad_request(code, message, detail=None):
    return oci_error(code, message, 400, detail)


def _parse_file_name(file_name):
    """(role, checksum, version, extension) of a file name under _trust/tuf/; None when it
    names no TUF file."""
    stem, dot, extension = file_name.rpartition(".")
    if not dot or extension not in ("json", "key"):
        return None
    checksum = version = None
    head, dot, tail = stem.rpartition(".")
    if dot and CHECKSUM.match(tail) and extension == "json":
        stem, checksum = head, tail
    first, dot, rest = stem.partition(".")
    # ASCII digits only ("²".isdigit() is true), and a version that fits the database
    plain_number = first.isascii() and first.isdecimal() and len(first) <= 9
    if dot and plain_number and not first.startswith("0") and extension == "json":
        stem, version = rest, int(first)
    if not is_valid_role(stem) or (checksum and version):
        return None
    return stem, checksum, version, extension


def get_trust_file(name, file_name):
    parsed = _parse_file_name(file_name)
    if parsed is None:
        return oci_error("METADATA_NOT_FOUND", f"no such trust file: {file_name}", 404)
    role, checksum, version, extension = parsed
    if extension == "key":
        return _server_key(name, role)
    repository, _ = _authorized(name, access.PULL)
    if role in (TIMESTAMP, SNAPSHOT) and checksum is None and version is None:
        content_trust.refresh_server_metadata(repository.id, name)
    data = content_trust.metadata_file(repository.id, name, role, checksum, version)
    if data is None:
        return oci_error("METADATA_NOT_FOUND", f"{name} has no {file_name}", 404, {"role": role})
    return Response(data, mimetype="application/json")


def _server_key(gun, role):
    """The server's timestamp or snapshot key, created on first request: creating it is a
    write, so it needs push (as Notary's server asks)."""
    if role not in (TIMESTAMP, SNAPSHOT):
        return _bad_request(
            "INVALID_ROLE", f"the server holds only timestamp and snapshot keys, not {role}"
        )
    repository, _ = _authorized(gun, access.PUSH)
    return content_trust.server_public_key(repository.id, gun, role)


def update_trust_data(name):
    repository, caller = _authorized(name, access.PUSH)
    request.max_content_length = MAX_UPDATE_BYTES
    try:
        files = [f for field in request.files for f in request.files.getlist(field)]
    except RequestEntityTooLarge:
        return oci_error("MALFORMED_UPLOAD", f"an update is at most {MAX_UPDATE_BYTES} bytes", 413)
    if not files:
        return _bad_request(
            "MALFORMED_UPLOAD", "expected multipart/form-data with one file per role"
        )
    uploads = {}
    for upload in files:
        role = (upload.filename or "").removesuffix(".json")
        if not role:
            return _bad_request("NO_FILENAME", "each file must be named after its role")
        if not is_valid_role(role):
            return _bad_request("INVALID_ROLE", f"{role!r} is not a TUF role", role)
        if role in uploads:
            return _bad_request("INVALID_UPDATE", f"{role} is in the update twice")
        data = upload.read(MAX_METADATA_BYTES + 1)
        if len(data) > MAX_METADATA_BYTES:
            return _bad_request("INVALID_UPDATE", f"{role}: larger than {MAX_METADATA_BYTES}")
        uploads[role] = data
    try:
        content_trust.update_trust_data(
            repository.id, name, uploads, caller.name, target=repository_name(name)
        )
    except TrustUpdateInvalid as error:
        return _bad_request("INVALID_UPDATE", error.message, error.detail)
    return {}, 200


def delete_trust_data(name):
    repository, caller = _authorized(name, access.ADMIN)
    content_trust.delete_gun(repository.id, name, caller.name, repository_name(name))
    return {}, 200
