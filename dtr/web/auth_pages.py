"""First run, login and logout."""

from flask import request, url_for

from ..auth.authentication import WEB, log_in, request_is_local
from ..auth.sessions import end_session, start_session
from ..errors import DomainError, InvalidCredentials, TooManyRequests
from ..logs import component_logger
from ..services.accounts import create_user
from ..services.credential_rules import password_min_length
from ..services.settings import get_setting
from .rendering import FormError, current_identity, form_error, go, page

log = component_logger("auth")
SETUP_FIELDS = {"name": "username", "password": "password", "setupCode": "setup_code"}


def home():
    if get_setting("auth_mode") == "none":
        return go("web.setup")
    if current_identity().anonymous:
        return go("web.login")
    return go("web.repositories")


def setup():
    """A fresh install: create the first admin (which switches the auth mode to Managed);
    from another machine, with the set-up code `serve` printed."""
    if get_setting("auth_mode") != "none":
        return go("web.login")
    error = None
    local = request_is_local()
    if request.method == "POST":
        name = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            error = FormError("The two passwords differ.", "setup", "confirm")
        else:
            try:
                create_user(
                    name,
                    password,
                    "admin",
                    actor=current_identity(),
                    setup_code_given=request.form.get("setup_code", ""),
                    local=local,
                )
                start_session(log_in(name, password, WEB))
                return go("web.settings_tab", "Welcome! You are the first admin.", tab="auth")
            except DomainError as failure:
                error = form_error(failure, "setup", SETUP_FIELDS)
    return page(
        "setup.html",
        _status_of(str(error) if error else None),
        error=error,
        form=request.form,
        need_code=not local,
        min_length=password_min_length(),
    )


def login():
    if get_setting("auth_mode") == "none":
        return go("web.setup")
    error = None
    name = request.form.get("username", "").strip()
    if request.method == "POST":
        try:
            identity = log_in(name, request.form.get("password", ""), WEB)
            start_session(identity)
            log.info("%s logged in to the web portal", identity.name)
            return _after_login()
        except TooManyRequests as failure:
            wait = failure.retry_after
            error = f"Too many failed logins. Try again in {wait} seconds."
            if not failure.message.startswith("too many failed logins"):
                error = "Too many password checks at once. Try again in a second."
        except InvalidCredentials as failure:
            error = "Wrong username or password."
            if failure.message.startswith("access tokens"):
                error = "Access tokens and robot accounts cannot log in here: use your password."
    return page("login.html", _status_of(error), error=error, username=name, next=_next_page())


def _status_of(error):
    if not error:
        return 200
    if error.startswith("Too many"):
        return 429
    return 401 if error.startswith(("Wrong", "Access tokens")) else 400


def _next_page():
    target = request.values.get("next", "")
    # only paths of this site: no scheme, no host, no protocol-relative // (browsers drop
    # tabs and newlines, so "/\t/evil.com" is one too), no backslash
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target if target.isprintable() else ""


def _after_login():
    from flask import redirect

    return redirect(_next_page() or url_for("web.repositories"), code=303)


def logout():
    end_session()
    return go("web.login", "You are logged out.")
