"""First run, login (a password, or single sign-on with the OpenID Connect provider) and
logout."""

import secrets
import time

from flask import redirect, request, session, url_for

from ..auth import oidc_client
from ..auth.authentication import WEB, log_in, request_is_local
from ..auth.sessions import end_session, start_session
from ..database import write_transaction
from ..errors import DomainError, InvalidCredentials, TooManyRequests
from ..logs import component_logger
from ..services import audit
from ..services.accounts import create_user
from ..services.auth_settings import oidc_settings
from ..services.credential_rules import password_min_length
from ..services.oidc_login import account_for_claims, settings_for_login
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


SIGNED_IN_WITH = "signed_in_with"  # session key: the provider's issuer, after single sign-on
PENDING = "oidc_pending"  # session key: the sign-in under way (state, nonce, PKCE verifier)
PENDING_SECONDS = 600  # a sign-in must come back from the provider within this


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
    return _login_page(error, _status_of(error), username=name)


def _login_page(error=None, status=200, username="", **context):
    provider = oidc_settings() if get_setting("auth_mode") == "oidc" else None
    return page(
        "login.html",
        status,
        error=error,
        username=username,
        next=_next_page(),
        provider=provider.label if provider else None,
        **context,
    )


def _status_of(error):
    if not error:
        return 200
    if error.startswith("Too many"):
        return 429
    return 401 if error.startswith(("Wrong", "Access tokens")) else 400


def _callback_url():
    return url_for("web.oidc_callback", _external=True)


def oidc_login():
    """Single sign-on: off to the provider's login page, with a fresh state, nonce and PKCE
    verifier kept in this browser's session to check what comes back."""
    if get_setting("auth_mode") == "none":
        return go("web.setup")
    try:
        settings = settings_for_login()
        url, pending = oidc_client.authorization_request(settings, _callback_url())
    except oidc_client.OidcUnavailable as failure:
        log.warning("single sign-on unavailable: %s", failure.message)
        return _provider_down(failure)
    except DomainError as failure:
        return _login_page(f"{failure.message[:1].upper()}{failure.message[1:]}.", 400)
    session[PENDING] = {**pending.to_dict(), "next": _next_page(), "at": int(time.time())}
    return redirect(url, code=303)


def _provider_down(failure):
    return _login_page(
        "The identity provider cannot be reached, so single sign-on does not work right now "
        f"({failure.message}). Local administrators can still log in with their password.",
        503,
    )


def oidc_callback():
    """The provider sends the browser back here with a code (or an error)."""
    if get_setting("auth_mode") == "none":
        return go("web.setup")
    pending = session.pop(PENDING, None)
    address = request.remote_addr
    try:
        settings = settings_for_login()
        if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
            raise oidc_client.OidcLoginRefused(
                "this sign-in was not started here, or took too long"
            )
        if request.args.get("error"):
            reason = request.args.get("error_description") or request.args["error"]
            raise oidc_client.OidcLoginRefused(f"the provider answered: {reason[:200]}")
        state = request.args.get("state", "")
        if not secrets.compare_digest(state.encode(), pending["state"].encode()):
            raise oidc_client.OidcLoginRefused("the answer's state is not this sign-in's")
        code = request.args.get("code", "")
        if not code or len(code) > 4096:
            raise oidc_client.OidcLoginRefused("the provider sent no code")
        keep = {k: pending[k] for k in ("state", "nonce", "code_verifier")}
        claims = oidc_client.finish_login(
            settings, oidc_client.PendingLogin(**keep), code, _callback_url()
        )
        identity = account_for_claims(settings, claims)
    except oidc_client.OidcUnavailable as failure:
        log.warning("single sign-on unavailable: %s", failure.message)
        return _provider_down(failure)
    except DomainError as failure:
        log.warning("single sign-on refused: %s", failure.message)
        if isinstance(pending, dict):  # unsolicited answers are not audited: no row each
            audit.set_client_address(address)
            with write_transaction():
                detail = {"via": "oidc", "reason": failure.message}
                audit.record(None, "login.failed", "oidc", detail)
        return _login_page(f"Single sign-on failed: {failure.message}.", 401)
    start_session(identity)
    session[SIGNED_IN_WITH] = settings.issuer
    log.info("%s signed in with %s", identity.name, settings.issuer)
    target = pending.get("next") or ""
    return redirect(target or url_for("web.repositories"), code=303)


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
    signed_in_with = session.get(SIGNED_IN_WITH)
    end_session()
    settings = oidc_settings() if signed_in_with else None
    if settings is None or settings.issuer != signed_in_with:
        return go("web.login", "You are logged out.")
    after = url_for("web.login", _external=True)
    provider_logout = oidc_client.end_session_url(settings, after)
    return _login_page(
        logged_out=True, provider_logout=provider_logout, provider_label=settings.label
    )
