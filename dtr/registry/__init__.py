"""The /v2 blueprint: OCI Distribution Spec v1.1. Every route is listed here."""

from flask import Blueprint, request

from ..errors import DomainError
from ..services import audit
from ..storage import StorageError
from . import base, blobs, manifests, trust, uploads
from .authorization import AuthChallenge, challenge_header
from .errors import domain_error_response, oci_error, storage_error_response
from .repository_lookup import route_mirrored_name

bp = Blueprint("registry", __name__, url_prefix="/v2")

ROUTES = [
    ("/", base.version_check, ["GET"]),
    ("/_catalog", manifests.catalog, ["GET"]),
    ("/<path:name>/tags/list", manifests.list_tags, ["GET"]),
    ("/<path:name>/manifests/<reference>", manifests.get_manifest, ["GET", "HEAD"]),
    ("/<path:name>/manifests/<reference>", manifests.put_manifest, ["PUT"]),
    ("/<path:name>/manifests/<reference>", manifests.delete_manifest, ["DELETE"]),
    ("/<path:name>/referrers/<digest>", manifests.referrers, ["GET"]),
    ("/<path:name>/blobs/<digest>", blobs.get_blob, ["GET", "HEAD"]),
    ("/<path:name>/blobs/<digest>", blobs.delete_blob, ["DELETE"]),
    ("/<path:name>/blobs/uploads/", uploads.start_upload, ["POST"]),
    ("/<path:name>/blobs/uploads/<upload_id>", uploads.patch_upload, ["PATCH"]),
    ("/<path:name>/blobs/uploads/<upload_id>", uploads.finish_upload, ["PUT"]),
    ("/<path:name>/blobs/uploads/<upload_id>", uploads.upload_status, ["GET"]),
    ("/<path:name>/blobs/uploads/<upload_id>", uploads.cancel_upload, ["DELETE"]),
    # Docker Content Trust (Notary v1 API); <name> is the GUN: HOST/ns/repo
    ("/<path:name>/_trust/tuf/<path:file_name>", trust.get_trust_file, ["GET", "HEAD"]),
    ("/<path:name>/_trust/tuf/", trust.update_trust_data, ["POST"]),
    ("/<path:name>/_trust/tuf/", trust.delete_trust_data, ["DELETE"]),
]

for rule, view, methods in ROUTES:
    bp.add_url_rule(rule, f"{view.__name__}", view, methods=methods, strict_slashes=False)


bp.url_value_preprocessor(route_mirrored_name)


@bp.before_request
def _client_address():
    """For the audit log (refused pushes, deletes); set on every request, as threads are
    reused."""
    audit.set_client_address(request.remote_addr)


@bp.errorhandler(DomainError)
def _domain_error(error):
    return domain_error_response(error)


@bp.errorhandler(StorageError)
def _storage_error(error):
    return storage_error_response(error)


@bp.errorhandler(AuthChallenge)
def _challenge(error):
    return oci_error(
        "UNAUTHORIZED",
        error.message,
        401,
        headers={"WWW-Authenticate": challenge_header(error)},
    )


@bp.after_request
def _api_version(response):
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"
    return response


def unrouted_error(error):
    """404/405 for paths under /v2 that match no route, as OCI errors."""
    if error.code == 405:
        return oci_error("UNSUPPORTED", "method not allowed", 405)
    return oci_error("NAME_UNKNOWN", f"no such endpoint: {request.path}", 404)
