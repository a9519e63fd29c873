"""Refuse NUL (U+0000) in what a request names: query parameters, path segments and form
fields. PostgreSQL text cannot hold it (the query fails: a 500) and no name, tag, search or
setting needs it; SQLite would store it and show it back truncated. JSON bodies are checked by
the API's parser (`strict_json.loads(..., nul=False)`), credentials by `is_text`."""

from flask import abort, request

from .errors import InvalidInput

NUL = "\x00"
# blueprints answering DomainError in their own format (OCI errors, API problems, auth JSON)
_DOMAIN_ERROR_BLUEPRINTS = ("registry", "api", "auth", "metrics")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def refuse_nul():
    """A before_request hook: 400 naming the first parameter that holds a NUL."""
    where = _first_with_nul()
    if where is None:
        return
    message = f"{where}: NUL (U+0000) is not allowed"
    if request.blueprint in _DOMAIN_ERROR_BLUEPRINTS:
        raise InvalidInput(message, {"field": where})
    abort(400, description=message)


def _first_with_nul() -> str | None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and NUL in value:
            return name
    for name, value in request.args.items(multi=True):
        if NUL in name or NUL in value:
            return "query parameter " + name.replace(NUL, "")[:100]
    if request.method == "POST" and request.mimetype in _FORMS and request.blueprint == "web":
        for name, value in request.form.items(multi=True):
            if NUL in name or NUL in value:
                return name.replace(NUL, "")[:100]
    return None
