"""User menu > Account: who one is (name, global role, how one logs in), one's own password
changed (the current one, then the new one twice), and one's access tokens (their own page,
linked from here)."""

from datetime import timedelta

from flask import request

from ..auth.authentication import WEB, log_in
from ..auth.sessions import keep_session
from ..errors import DomainError, InvalidCredentials, InvalidInput
from ..models import utcnow
from ..services import access_tokens, accounts
from ..services.credential_rules import password_min_length
from .credential_forms import refusal_status
from .navigation import EXPIRING_DAYS
from .rendering import FormError, form_error, go, page
from .repository_pages import logged_in

FORM = "change-password"
FIELDS = ("oldPassword", "newPassword", "confirm")


def account():
    return _account_page(logged_in())


def change_password():
    """Check the current password (through the login throttle, as a login would), then set
    the new one: every other session, registry token and docker login of the account ends;
    this browser stays logged in."""
    me = logged_in()
    form = request.form
    old, new = form.get("oldPassword", ""), form.get("newPassword", "")
    try:
        if new != form.get("confirm", ""):
            raise InvalidInput("confirm: the two new passwords differ", {"field": "confirm"})
        log_in(me.name, old, WEB)
        accounts.change_password(me, me.name, old, new)
    except InvalidCredentials:
        error = FormError("This is not your current password.", FORM, "oldPassword")
        return _account_page(me, error, 400)
    except DomainError as failure:
        return _account_page(me, form_error(failure, FORM, FIELDS), refusal_status(failure))
    keep_session(me)
    return go(
        "web.account",
        "Password changed. Your other sessions have ended, and docker logins with the old "
        "password need the new one.",
    )


def _account_page(me, error=None, status=200):
    account = accounts.get_account(me, me.name)
    now = utcnow()
    tokens = access_tokens.list_tokens(me, me.name)
    soon = now + timedelta(days=EXPIRING_DAYS)
    return page(
        "account.html",
        status,
        account=account,
        min_length=password_min_length(),
        tokens=len(tokens),
        expiring=sum(1 for token in tokens if token.expires_at <= soon),
        error=error,
    )
