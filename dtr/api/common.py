"""What every /api/v0 view needs: the caller, the JSON body, pagination, JSON errors."""

from flask import jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import errors, strict_json
from ..auth.authentication import API, caller_of_request
from ..auth.csrf import SAFE_METHODS, check_csrf
from ..auth.identity import ANONYMOUS, API_WRITE, Identity
from ..logs import set_request_user
from ..services.settings import get_setting

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
    errors.TooManyRequests: ("TOO_MANY_REQUESTS", 429),
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
    if isinstance(error, errors.TooManyRequests):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def caller(setting_up=False) -> Identity:
    """The identity of the request (auth/authentication.py): HTTP Basic with a password or
    an access token with an api scope, or the portal's session (with its CSRF token on
    changes: the API console); anonymous without credentials. Registry tokens and robots are
    refused, and an access token without api:write may only read. With the auth mode None
    only the set-up (`setting_up`: creating the first admin) is offered; everything else
    answers NOT_SET_UP."""
    if get_setting("auth_mode") == "none":
        if setting_up:
            return ANONYMOUS
        raise errors.NotSetUp()
    found = caller_of_request(API)
    if found.method == "session":
        check_csrf()
    identity = found.identity
    if (
        identity.scopes is not None
        and request.method not in SAFE_METHODS
        and API_WRITE not in identity.scopes
    ):
        raise errors.Denied("this access token may only read: it lacks the api:write scope")
    set_request_user(identity.name)
    return identity


MAX_BODY_BYTES = 4 * 1024 * 1024


def json_body() -> dict:
    """The request's JSON object, read by the strict parser (dtr/strict_json.py); what it
    refuses is an error naming the field it is under (else `body`)."""
    if not request.is_json:
        raise errors.InvalidInput(
            "body: a JSON object is required (Content-Type: application/json)"
        )
    request.max_content_length = MAX_BODY_BYTES
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise errors.InvalidInput(f"body: larger than {MAX_BODY_BYTES} bytes") from None
    try:
        body = strict_json.loads(data, nul=False)
    except strict_json.JsonRejected as error:
        name = strict_json.top_field(error) or "body"
        reason = error.reason if name != "body" or not error.path else str(error)
        raise errors.InvalidInput(f"{name}: {reason}", {"field": name}) from None
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


def optional_int(body, name):
    """A whole number field that may be absent or null (None: the default)."""
    if body.get(name) is None:
        return None
    return field(body, name, int)


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


def scoped_routes(
    resource, views_of, scope_class, repository_prefix, namespace_prefix, registry_prefix=None
):
    """(rule, endpoint, view, method) of a resource's routes for a repository, for a namespace
    and, given its prefix, for the registry: `views_of(scope_of)` gives (suffix, view,
    method), views taking the path's values; `scope_of(**path)` is the scope_class's, for the
    caller."""

    def of_repository(namespace, repo):
        return scope_class.of_repository(caller(), f"{namespace}/{repo}")

    def of_namespace(namespace):
        return scope_class.of_namespace(caller(), namespace)

    def of_registry():
        return scope_class.of_registry(caller())

    scopes = [
        (repository_prefix, of_repository, "repository"),
        (namespace_prefix, of_namespace, "namespace"),
    ]
    if registry_prefix is not None:
        scopes.append((registry_prefix, of_registry, "registry"))
    table = []
    for prefix, scope_of, kind in scopes:
        for suffix, view, method in views_of(scope_of):
            endpoint = f"{resource}_{kind}_{view.__name__}"
            table.append((f"{prefix}/{resource}{suffix}", endpoint, view, method))
    return table
