"""The token endpoint of Docker token authentication: GET (Basic or anonymous) and the
OAuth2 POST form (grant_type=password | refresh_token) that `docker login` uses.

A request asks for at most MAX_TOKEN_SCOPES scopes in at most MAX_TOKEN_REQUEST_BYTES: a
client never needs more (a cross-repository push asks for two or three), and each scope costs
a permission check."""

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, request

from ..errors import DomainError, InvalidCredentials, TooManyRequests
from ..logs import component_logger, set_request_user
from ..services.credentials import identity_of_credential
from ..services.general_settings import token_lifetime
from ..services.settings import domain_name
from .authentication import REGISTRY, log_in
from .grants import grant_scopes
from .identity import ANONYMOUS, REGISTRY_SCOPES
from .tokens import TokenInvalid

bp = Blueprint("auth", __name__)
log = component_logger("auth")


class RequestTooLarge(DomainError):
    pass


def _error(code, message, status, headers=None):
    response = jsonify({"errors": [{"code": code, "message": message, "detail": None}]})
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.errorhandler(InvalidCredentials)
def _unauthorized(error):
    return _error("UNAUTHORIZED", error.message, 401)


@bp.errorhandler(TooManyRequests)
def _too_many(error):
    return _error("TOOMANYREQUESTS", error.message, 429, {"Retry-After": str(error.retry_after)})


@bp.errorhandler(DomainError)
def _bad_request(error):
    return _error("UNSUPPORTED", error.message, 400)


@bp.get("/auth/token")
def token_get():
    _check_size(len(request.query_string))
    identity = ANONYMOUS
    if request.authorization and request.authorization.type == "basic":
        auth = request.authorization
        identity = log_in(auth.username or "", auth.password or "", REGISTRY)
    offline = request.args.get("offline_token") == "true" and not identity.anonymous
    # one scope parameter may hold several, space-separated, as a challenge names them
    scopes = [scope for value in request.args.getlist("scope") for scope in value.split()]
    return _token_response(identity, scopes, offline)


@bp.post("/auth/token")
def token_post():
    _check_size(request.content_length or 0)
    form = request.form
    grant_type = form.get("grant_type")
    key = current_app.extensions["dtr_token_key"]
    if grant_type == "password":
        identity = log_in(form.get("username", ""), form.get("password", ""), REGISTRY)
        offline = form.get("access_type") == "offline"
    elif grant_type == "refresh_token":
        try:
            claims = key.verify(form.get("refresh_token", ""), domain_name(), refresh=True)
        except TokenInvalid:
            raise InvalidCredentials("invalid refresh token") from None
        identity = identity_of_credential(claims.get("cred"))
        if identity is None or identity.name != claims["sub"]:
            raise InvalidCredentials(
                "the refresh token was revoked (password, role or state changed, or the access "
                "token it came from was revoked): log in again"
            )
        identity = identity.narrowed(REGISTRY_SCOPES)
        offline = True
    else:
        return jsonify({"error": "unsupported_grant_type"}), 400
    return _token_response(identity, form.get("scope", "").split(), offline)


def _check_size(size):
    limit = current_app.config["MAX_TOKEN_REQUEST_BYTES"]
    if size > limit:
        raise RequestTooLarge(f"the token request is too large ({size} bytes; at most {limit})")


def _token_response(identity, scopes, offline):
    limit = current_app.config["MAX_TOKEN_SCOPES"]
    if len(scopes) > limit:
        raise RequestTooLarge(
            f"too many scopes in one token request: {len(scopes)} (at most {limit})"
        )
    config = current_app.config
    key = current_app.extensions["dtr_token_key"]
    service = domain_name()
    access = grant_scopes(identity, scopes)
    lifetime = token_lifetime()
    token, claims = key.issue_access_token(
        identity.name, service, access, lifetime, identity.credential
    )
    body = {
        "token": token,
        "access_token": token,
        "expires_in": lifetime,
        "issued_at": datetime.fromtimestamp(claims["iat"], UTC).isoformat(),
        "scope": " ".join(f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access),
    }
    if offline:
        body["refresh_token"] = key.issue_refresh_token(
            identity.name, service, config["REFRESH_TOKEN_LIFETIME"], identity.credential
        )
    set_request_user(identity.name)
    log.info(
        "token issued to %s (%s%s)",
        identity.name or "an anonymous client",
        body["scope"] or "no scope",
        ", with a refresh token" if offline else "",
    )
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
