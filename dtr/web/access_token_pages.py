"""User menu > Access tokens: the logged-in person's personal access tokens, a form to
make one (its secret shown once, in the answer), and revoke."""

from datetime import timedelta

from flask import request, url_for

from .. import access
from ..auth.identity import METRICS, SCOPES
from ..errors import DomainError
from ..models import utcnow
from ..services import access_tokens
from ..services.credential_rules import DEFAULT_TOKEN_DAYS, token_max_days
from .addresses import registry_address
from .credential_forms import no_store, refusal_status, whole_number
from .navigation import EXPIRING_DAYS
from .rendering import form_error, go, page
from .repository_pages import logged_in

SCOPE_LABELS = {
    "registry:pull": "Pull images (docker pull)",
    "registry:push": "Push images (docker push)",
    "api:read": "Read the API (/api/v0)",
    "api:write": "Change things through the API",
    "metrics": "Read the Prometheus metrics (/metrics; administrators only)",
}


def access_tokens_page():
    """The list and the form; a POST makes a token and answers with its secret, once."""
    me = logged_in()
    if request.method == "GET":
        return _tokens_page(me)
    form = request.form
    try:
        token, secret = access_tokens.create_token(
            me,
            me.name,
            form.get("name", ""),
            form.getlist("scopes"),
            whole_number(form.get("expiresInDays")),
        )
    except DomainError as failure:
        error = form_error(failure, "new-token", ("name", "scopes", "expiresInDays"))
        return _tokens_page(me, error, refusal_status(failure), form)
    return no_store(_tokens_page(me, created=token, secret=secret), url_for("web.access_tokens"))


def revoke_token(token_id):
    me = logged_in()
    try:
        name = _name_of(me, token_id)
        access_tokens.revoke_token(me, me.name, token_id)
    except DomainError as failure:
        return _tokens_page(me, form_error(failure), refusal_status(failure))
    return go("web.access_tokens", f"Access token {name} revoked: it no longer works.")


def _name_of(me, token_id):
    for token in access_tokens.list_tokens(me, me.name):
        if str(token.id) == token_id:
            return token.name
    return token_id


def _tokens_page(me, error=None, status=None, form=None, created=None, secret=None):
    maximum = token_max_days()
    now = utcnow()
    return page(
        "access_tokens.html",
        status or (400 if error else 200),
        tokens=access_tokens.list_tokens(me, me.name),
        soon=now + timedelta(days=EXPIRING_DAYS),
        now=now,
        scopes=[
            (scope, SCOPE_LABELS[scope])
            for scope in SCOPES
            if scope != METRICS or access.may_read_metrics(me)
        ],
        chosen=form.getlist("scopes") if form else ["registry:pull"],
        form=form or {},
        maximum=maximum,
        default_days=min(DEFAULT_TOKEN_DAYS, maximum),
        error=error,
        created=created,
        secret=secret,
        host=registry_address(),
    )
