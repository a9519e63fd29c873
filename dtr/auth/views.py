"""The token endpoint of Docker token authentication: GET (Basic or anonymous) and the
OAuth2 POST form (grant_type=password | refresh_token) that `docker login` uses."""

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, request

from ..errors import InvalidCredentials
from ..logs import component_logger, set_request_user
from ..services.accounts import authenticate, identity_for_name
from ..services.general_settings import token_lifetime
from ..services.settings import domain_name
from .grants import grant_scopes
from .identity import ANONYMOUS
from .tokens import TokenInvalid

bp = Blueprint("auth", __name__)
log = component_logger("auth")


def _unauthorized(message):
    response = jsonify({"errors": [{"code": "UNAUTHORIZED", "message": message, "detail": None}]})
    response.status_code = 401
    return response


@bp.get("/auth/token")
def token_get():
    try:
        identity = ANONYMOUS
        if request.authorization and request.authorization.type == "basic":
            auth = request.authorization
            identity = authenticate(auth.username or "", auth.password or "")
    except InvalidCredentials as error:
        return _unauthorized(error.message)
    offline = request.args.get("offline_token") == "true" and not identity.anonymous
    return _token_response(identity, request.args.getlist("scope"), offline)


@bp.post("/auth/token")
def token_post():
    form = request.form
    grant_type = form.get("grant_type")
    key = current_app.extensions["dtr_token_key"]
    try:
        if grant_type == "password":
            identity = authenticate(form.get("username", ""), form.get("password", ""))
            offline = form.get("access_type") == "offline"
        elif grant_type == "refresh_token":
            claims = key.verify(form.get("refresh_token", ""), domain_name(), refresh=True)
            identity = identity_for_name(claims["sub"])
            if identity is None:
                raise InvalidCredentials("the account is unknown or deactivated")
            offline = True
        else:
            return jsonify({"error": "unsupported_grant_type"}), 400
    except (InvalidCredentials, TokenInvalid) as error:
        return _unauthorized(getattr(error, "message", "invalid refresh token"))
    return _token_response(identity, form.get("scope", "").split(), offline)


def _token_response(identity, scopes, offline):
    config = current_app.config
    key = current_app.extensions["dtr_token_key"]
    service = domain_name()
    access = grant_scopes(identity, scopes)
    lifetime = token_lifetime()
    token, claims = key.issue_access_token(identity.name, service, access, lifetime)
    body = {
        "token": token,
        "access_token": token,
        "expires_in": lifetime,
        "issued_at": datetime.fromtimestamp(claims["iat"], UTC).isoformat(),
        "scope": " ".join(f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access),
    }
    if offline:
        body["refresh_token"] = key.issue_refresh_token(
            identity.name, service, config["REFRESH_TOKEN_LIFETIME"]
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
