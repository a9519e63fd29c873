"""How web views answer: pages, HTMX fragments, redirects, and domain errors shown to people.

A view renders a full page on a normal request. Parts that HTMX swaps on their own (search
results, a tag row, a member list) are separate partial templates, chosen by `fragment_for`.

A refused form is answered with its page again, status 4xx, and `error`: a FormError (made by
`form_error` from the service's DomainError) that says which form and which of its inputs
the message is about. The page shows it beside that input, marked aria-invalid and focused
(macros.html: `invalid`, `field_error`), or at the top of the page when it names no input
(`error_message`). The layout's htmx configuration swaps 4xx answers into the body like any
page, scrolled to the top or, for a message beside a field, to that field (HX-Reswap,
autofocus). Confirmations of earlier actions still waiting to be shown are dropped with a
refusal, so no stale "saved" stays beside a failure.
"""

import re
from dataclasses import dataclass

from flask import flash, redirect, render_template, request, session, url_for

from .. import __version__
from ..auth.authentication import WEB, caller_of_request
from ..errors import (
    BlobUnknown,
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


@dataclass(frozen=True)
class FormError:
    """A refused form's message; `form`: the id of the form, `field`: the name of the input
    it is about (None: the page shows it at the top)."""

    message: str
    form: str | None = None
    field: str | None = None

    def __str__(self):
        return self.message

    @property
    def element_id(self) -> str:
        """The id of the message beside the field (the field's aria-describedby)."""
        return f"{self.form}-{self.field}-error"


# Keys of a DomainError's detail that carry the value of a field: errors of names say which
# name (NameInvalid, NameTaken, NameUnknown), of teams which team.
VALUE_KEYS = ("name", "team")


def form_error(failure, form=None, fields=(), default=None, prefix="") -> FormError:
    """The error of the form with id `form`: a DomainError (or a message), beside the input
    it names. `fields`: the form's inputs, by the name the service gives them (its
    detail's `field`, the key of the value it refused such as `name`, or the name its
    message starts with), a dict {service name: input name} where they differ; `default`:
    the input of errors that name none of them; `prefix` goes before the message. Beside
    its input the message drops the field name it starts with."""
    message = getattr(failure, "message", None) or str(failure)
    detail = getattr(failure, "detail", None)
    detail = detail if isinstance(detail, dict) else {}
    inputs = fields if isinstance(fields, dict) else {name: name for name in fields}
    named = detail.get("field")
    if named not in inputs:
        named = next((key for key in VALUE_KEYS if key in detail and key in inputs), None)
    if named is None:  # services' messages start with the field's name: "role: must be..."
        named = next((key for key in inputs if message.startswith(f"{key}: ")), None)
    field = inputs.get(named, default)
    if field is not None and named is not None and message.startswith(f"{named}: "):
        message = message[len(named) + 2 :]
        message = message[:1].upper() + message[1:]
    return FormError(prefix + message, form, field)


def dom_id(*parts) -> str:
    """An element id made of names (an account's may hold "."): letters, digits and "-" kept,
    anything else written as _<hex>, so ids of different names differ and are plain CSS."""
    text = "-".join(str(part) for part in parts)
    return re.sub(r"[^A-Za-z0-9-]", lambda found: f"_{ord(found.group()):x}", text)


def page(template, status=200, **context):
    """A page (or fragment); a status of 400 or more is a refusal: confirmations of earlier
    actions are not shown with it."""
    if status >= 400:
        forget_confirmations()
    body = render_template(template, **context)
    error = context.get("error")
    beside_a_field = isinstance(error, FormError) and error.field is not None
    if status >= 400 and beside_a_field and request.headers.get("HX-Request") == "true":
        # swapped into the body like any page, but not scrolled to the top: the field it
        # names takes the focus (autofocus), which scrolls it into view
        return body, status, {"HX-Reswap": "innerHTML show:none"}
    return body, status


def forget_confirmations():
    """Drop the confirmations ("saved", "added") waiting to be shown: shown beside a failure
    they would read as its success."""
    waiting = session.get("_flashes")
    if waiting:
        kept = [(category, text) for category, text in waiting if category != "success"]
        if kept:
            session["_flashes"] = kept
        else:
            session.pop("_flashes")


def go(endpoint, message=None, category="success", **values):
    """Redirect after a change (POST/redirect/GET), with a confirmation to show (or, with
    `category` error, a refusal shown at the top of the page it goes to)."""
    if category != "success":
        forget_confirmations()
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
    missing = isinstance(error, NameUnknown | ManifestUnknown | BlobUnknown)  # deleted meanwhile
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


def favicon():
    """/favicon.ico, which browsers ask for where no page names its icon (JSON answers, the
    API's documents): the PNG of static/favicon.svg."""
    from flask import current_app, send_from_directory

    return send_from_directory(current_app.static_folder, "favicon.png", max_age=86400)


def current_identity():
    """The logged-in person of this browser (the session), or ANONYMOUS."""
    return caller_of_request(WEB).identity


def common_context():
    """What every template may use."""
    from .navigation import banners_for, navigation_for, notices_for

    identity = current_identity()
    return {
        "dom_id": dom_id,
        "me": identity,
        "navigation": navigation_for(identity),
        "banners": banners_for(identity),
        "notices": notices_for(identity),
        "dtr_version": __version__,
    }
