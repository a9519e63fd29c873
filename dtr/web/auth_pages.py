"""First run, login and logout."""

from flask import request, url_for

from ..auth import login_throttle
from ..auth.sessions import end_session, session_identity, start_session
from ..errors import DomainError, InvalidCredentials
from ..logs import component_logger
from ..services.accounts import authenticate, create_user
from ..services.settings import get_setting
from .rendering import go, page

log = component_logger("auth")


def home():
    if get_setting("auth_mode") == "none":
        return go("web.setup")
    if session_identity().anonymous:
        return go("web.login")
    return go("web.repositories")


def setup():
    """A fresh install: create the first admin (which switches the auth mode to Managed)."""
    if get_setting("auth_mode") != "none":
        return go("web.login")
    error = None
    if request.method == "POST":
        name = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            error = "The two passwords differ."
        else:
            try:
                create_user(name, password, "admin", actor=session_identity())
                start_session(authenticate(name, password))
                return go("web.settings_tab", "Welcome! You are the first admin.", tab="auth")
            except DomainError as failure:
                error = failure.message
    return page("setup.html", 400 if error else 200, error=error, form=request.form)


def login():
    if get_setting("auth_mode") == "none":
        return go("web.setup")
    error = None
    name = request.form.get("username", "").strip()
    if request.method == "POST":
        address = request.remote_addr or "?"
        wait = login_throttle.seconds_blocked(name, address)
        if wait:
            log.warning("web login of %r refused for %s s: too many failures", name[:100], wait)
            error = f"Too many failed logins. Try again in {wait} seconds."
        else:
            try:
                identity = authenticate(name, request.form.get("password", ""))
                login_throttle.record_success(name, address)
                start_session(identity)
                log.info("%s logged in to the web portal", identity.name)
                return _after_login()
            except InvalidCredentials:
                login_throttle.record_failure(name, address)
                error = "Wrong username or password."
    status = 429 if error and "Too many" in error else 401 if error else 200
    return page("login.html", status, error=error, username=name, next=_next_page())


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
