"""OCI error responses: `{"errors": [{"code", "message", "detail"}]}` with the spec's status."""

from flask import jsonify

from .. import errors
from ..logs import component_logger
from ..services.upstream_registry import UpstreamFailed
from ..storage import PathNotFound, StorageError, StorageFull

log = component_logger("storage")

# domain exception -> (OCI code, HTTP status)
OCI_ERRORS = {
    errors.TagInvalid: ("TAG_INVALID", 400),
    errors.NameInvalid: ("NAME_INVALID", 400),
    errors.NameUnknown: ("NAME_UNKNOWN", 404),
    errors.NameTaken: ("DENIED", 409),
    errors.BlobUnknown: ("BLOB_UNKNOWN", 404),
    errors.BlobUploadUnknown: ("BLOB_UPLOAD_UNKNOWN", 404),
    errors.BlobUploadInvalid: ("BLOB_UPLOAD_INVALID", 400),
    errors.RangeInvalid: ("BLOB_UPLOAD_INVALID", 416),
    errors.DigestInvalid: ("DIGEST_INVALID", 400),
    errors.SizeInvalid: ("SIZE_INVALID", 400),
    errors.ManifestInvalid: ("MANIFEST_INVALID", 400),
    errors.ManifestTooLarge: ("SIZE_INVALID", 413),
    errors.ManifestUnknown: ("MANIFEST_UNKNOWN", 404),
    errors.ManifestBlobUnknown: ("MANIFEST_BLOB_UNKNOWN", 400),
    errors.Unsupported: ("UNSUPPORTED", 415),
    errors.Denied: ("DENIED", 403),
    errors.InvalidCredentials: ("UNAUTHORIZED", 401),
    errors.InvalidInput: ("UNSUPPORTED", 400),
    errors.TooManyRequests: ("TOOMANYREQUESTS", 429),
}


def oci_error(code, message, status, detail=None, headers=None):
    response = jsonify({"errors": [{"code": code, "message": message, "detail": detail}]})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def domain_error_response(error: errors.DomainError):
    if isinstance(error, UpstreamFailed):  # a proxy namespace's upstream, nothing cached
        return _upstream_failed(error)
    for kind in type(error).__mro__:
        if kind in OCI_ERRORS:
            code, status = OCI_ERRORS[kind]
            headers = None
            if isinstance(error, errors.TooManyRequests):
                headers = {"Retry-After": str(error.retry_after)}
            return oci_error(code, error.message, status, error.detail, headers)
    return oci_error("UNKNOWN", error.message, 400, error.detail)


def storage_error_response(error: StorageError):
    if isinstance(error, StorageFull):  # logged where the write failed (services/storage_full)
        detail = {"freeBytes": error.free_bytes, "reason": error.reason}
        return oci_error("UNAVAILABLE", error.summary, 507, detail)
    if isinstance(error, PathNotFound):  # a blob garbage-collected while it was being read
        log.warning("not found on storage (deleted while being read?): %s", error)
        return oci_error("BLOB_UNKNOWN", "blob unknown to registry", 404, {"path": str(error)})
    log.error("storage backend failed: %s", error, exc_info=error)
    return oci_error("UNAVAILABLE", f"storage backend failed: {error}", 503, {"reason": str(error)})


def _upstream_failed(error: UpstreamFailed):
    """429 when the upstream rate-limits (with its Retry-After), else 503: the client may
    try again later, its request was not wrong."""
    if error.status == 429:
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
        return oci_error("TOOMANYREQUESTS", error.message, 429, error.detail, headers)
    return oci_error("UNAVAILABLE", error.message, 503, error.detail)
