"""What every /api/v0 view needs: the caller, the JSON body, pagination, JSON errors."""

from flask import current_app, jsonify, request

from .. import errors
from ..auth.csrf import check_csrf
from ..auth.identity import ANONYMOUS, Identity
from ..auth.sessions import session_identity
from ..auth.tokens import TokenInvalid
from ..logs import set_request_user
from ..services.accounts import authenticate, identity_for_name
from ..services.settings import domain_name, get_setting

# domain exception -> (code, HTTP status)
API_ERRORS = {
    errors.InvalidInput: ("INVALID_INPUT", 400),
    errors.NameInvalid: ("INVALID_NAME", 400),
    errors.InvalidCredentials: ("NOT_AUTHENTICATED", 401),
    errors.Denied: ("NOT_AUTHORIZED", 403),
    errors.NameUnknown: ("NO_SUCH_RESOURCE", 404),
    errors.ManifestUnknown: ("NO_SUCH_RESOURCE", 404),
    errors.NameTaken: ("ALREADY_EXISTS", 409),
    errors.JobRunning: ("JOB_RUNNING", 409),
    errors.JobUnknown: ("NO_SUCH_RESOURCE", 404),
    errors.NotSetUp: ("NOT_SET_UP", 409),
}


def error_response(error: errors.DomainError):
    code, status = "INVALID_INPUT", 400
    for kind in type(error).__mro__:
        if kind in API_ERRORS:
            code, status = API_ERRORS[kind]
            break
    response = jsonify(
        {"errors": [{"code": code, "message": error.message, "detail": error.detail}]}
    )
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="DTR"'
    return response


def caller(setting_up=False) -> Identity:
    """The identity of the request: HTTP Basic, a registry bearer token, the browser session
    of the web portal (with its CSRF token on changes: the API console), or anonymous.
    With the auth mode None only the set-up (`setting_up`: creating the first admin) is
    offered; everything else answers NOT_SET_UP."""
    identity = _identity(setting_up)
    set_request_user(identity.name)
    return identity


def _identity(setting_up) -> Identity:
    if get_setting("auth_mode") == "none":
        if setting_up:
            return ANONYMOUS
        raise errors.NotSetUp()
    header = request.authorization
    if header is None:
        identity = session_identity()
        if not identity.anonymous:
            check_csrf()
        return identity
    if header.type == "basic":
        return authenticate(header.username or "", header.password or "")
    if header.type == "bearer":
        key = current_app.extensions["dtr_token_key"]
        try:
            claims = key.verify(header.token or "", domain_name())
        except TokenInvalid:
            raise errors.InvalidCredentials("invalid or expired token") from None
        identity = identity_for_name(claims.get("sub") or "")
        if identity is None:
            raise errors.InvalidCredentials("the token's account is unknown or deactivated")
        return identity
    raise errors.InvalidCredentials("unsupported authorization scheme")


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise errors.InvalidInput("body: a JSON object is required")
    return body


def field(body, name, kind=str, required=True, default=None):
    """A field of a JSON body, type-checked; errors name the field."""
    if name not in body:
        if required:
            raise errors.InvalidInput(f"{name}: required", {"field": name})
        return default
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise errors.InvalidInput(f"{name}: must be a {kind.__name__}", {"field": name})
    return value


def page() -> tuple[int, int]:
    """(start, limit) from the query string."""
    values = []
    for name, default, top in (("start", 0, 10**9), ("limit", 100, 1000)):
        raw = request.args.get(name, str(default))
        if not raw.isdecimal() or len(raw) > 12 or int(raw) > top:
            raise errors.InvalidInput(f"{name}: an integer from 0 to {top}", {"field": name})
        values.append(int(raw))
    return values[0], values[1]


def listing(key, items, total, start, limit):
    return {key: items, "start": start, "limit": limit, "total": total}
