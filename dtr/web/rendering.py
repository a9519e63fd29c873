"""How web views answer: pages, HTMX fragments, redirects, and domain errors shown to people.

A view renders a full page on a normal request. Parts that HTMX swaps on their own (search
results, a tag row, a member list) are separate partial templates, chosen by `fragment_for`.
"""

from flask import flash, redirect, render_template, request, url_for

from ..auth.authentication import WEB, caller_of_request
from ..errors import (
    Denied,
    DomainError,
    InvalidCredentials,
    ManifestUnknown,
    NameUnknown,
    NotSetUp,
)


class LoginRequired(Exception):
    """The page needs a logged-in user; the browser goes to the login form."""


def htmx_target() -> str | None:
    """The id of the element an HTMX request will swap, or None for a normal request."""
    if request.headers.get("HX-Request") != "true":
        return None
    return request.headers.get("HX-Target")


def page(template, status=200, **context):
    return render_template(template, **context), status


def go(endpoint, message=None, category="success", **values):
    """Redirect after a change (POST/redirect/GET), with a confirmation to show."""
    if message:
        flash(message, category)
    location = url_for(endpoint, **values)
    if request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted"):
        return "", 204, {"HX-Location": location}  # an hx-post outside a boosted form
    return redirect(location, code=303)


def error_page(error: DomainError):
    """A domain error as the page a person sees."""
    if isinstance(error, NotSetUp):
        return _redirect("web.setup")
    if isinstance(error, InvalidCredentials):
        return _redirect("web.login", next=request.full_path)
    missing = isinstance(error, NameUnknown | ManifestUnknown)  # a tag deleted meanwhile
    status = 404 if missing else 403 if isinstance(error, Denied) else 400
    titles = {404: "Not found", 403: "Not allowed", 400: "That did not work"}
    return page("error.html", status, title=titles[status], message=error.message)


def _redirect(endpoint, **values):
    location = url_for(endpoint, **values)
    if request.headers.get("HX-Request") == "true":
        return "", 204, {"HX-Redirect": location}
    return redirect(location, code=303)


def login_redirect(_error=None):
    from ..services.settings import get_setting

    if get_setting("auth_mode") == "none":
        return _redirect("web.setup")  # a fresh install: nobody can log in yet
    return _redirect("web.login", next=request.full_path.rstrip("?"))


def current_identity():
    """The logged-in person of this browser (the session), or ANONYMOUS."""
    return caller_of_request(WEB).identity


def common_context():
    """What every template may use."""
    from .navigation import banners_for, navigation_for, notices_for

    identity = current_identity()
    return {
        "me": identity,
        "navigation": navigation_for(identity),
        "banners": banners_for(identity),
        "notices": notices_for(identity),
    }
