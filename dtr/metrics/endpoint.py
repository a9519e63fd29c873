"""GET /metrics: the Prometheus text format, for administrators (their password, their
session, or their access token with the metrics scope); 401 with a Basic challenge
without credentials, 403 for anyone else. `serve --metrics-bind` answers the same text
without authentication on an address of its own (dtr/server.py)."""

from flask import Blueprint, Response, request

from .. import access
from ..api.common import error_response
from ..auth.authentication import METRICS, caller_of_request
from ..errors import Denied, DomainError, InvalidCredentials
from .exposition import scrape

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    identity = caller_of_request(METRICS).identity
    if identity.anonymous:
        raise InvalidCredentials(
            "authentication required: an administrator, or an access token with the metrics "
            "scope (HTTP Basic)"
        )
    if not access.may_read_metrics(identity):
        raise Denied(
            "only administrators, and their access tokens with the metrics scope, may read "
            "the metrics"
        )
    body, content_type = scrape(request.headers.get("Accept", ""))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


@bp.errorhandler(DomainError)
def _refused(error):
    return error_response(error)
