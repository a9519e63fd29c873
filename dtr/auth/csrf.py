"""CSRF protection for everything a browser session can do: one random token per session,
sent back by forms (hidden field `csrf_token`) and by HTMX / the API console (header
`X-CSRF-Token`). Requests authenticated by HTTP Basic or a bearer token need none: a browser
does not add those on its own."""

import hmac
import secrets

from flask import request, session

from ..errors import Denied

HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def csrf_token() -> str:
    token = session.get(FIELD)
    if token is None:
        token = session[FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf():
    """Raise Denied when a state-changing request lacks this session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(FIELD)
    # a form's own field first: it is newer than a header HTMX copied from a page loaded
    # before a login or logout changed the session
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not expected or not hmac.compare_digest(sent, expected):
        raise Denied("the form expired or did not come from this site (CSRF check failed)")
