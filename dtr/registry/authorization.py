"""May the caller of a registry request do this? The caller comes from the one
authentication entry (auth/authentication.py); bearer tokens carry what the token service
granted (from the access function); other callers are checked against it directly."""

from flask import request

from .. import access
from ..auth.authentication import REGISTRY, Caller, caller_of_request
from ..auth.tokens import granted_actions
from ..errors import Denied, InvalidCredentials, InvalidToken, NameUnknown
from ..logs import set_request_user
from ..services import audit
from ..services.repositories import repository_or_prospect
from ..services.settings import domain_name


class AuthChallenge(Exception):
    """Answer 401 with a WWW-Authenticate challenge."""

    def __init__(self, message, scope=None, error=None):
        super().__init__(message)
        self.message, self.scope, self.error = message, scope, error


def current_caller(scope=None) -> Caller:
    """Authenticate the request; raise AuthChallenge (for `scope`) when credentials are
    missing or bad."""
    try:
        caller = caller_of_request(REGISTRY)
    except InvalidToken as error:
        raise AuthChallenge(error.message, scope=scope, error="invalid_token") from None
    except InvalidCredentials as error:
        raise AuthChallenge(error.message, scope=scope) from None
    if caller.method == "anonymous":
        raise AuthChallenge("authentication required", scope=scope)
    set_request_user(caller.name)
    return caller


def actions_on(caller: Caller, name: str, token_name: str | None = None) -> set:
    """Registry actions the caller may do on a repository name; `token_name`: the name a
    token grants them under, when not `name` (a trust GUN: HOST/ns/repo)."""
    cache = _request_cache()
    key = (token_name or name, caller.identity)
    if key in cache:
        return cache[key]
    if caller.claims is not None:
        actions = access.actions_of_token(
            granted_actions(caller.claims, "repository", token_name or name)
        )
    else:
        actions = set(access.allowed_actions(caller.identity, repository_or_prospect(name)))
    cache[key] = actions
    return actions


def _request_cache() -> dict:
    """Answers of `actions_on` for this request (a push asks several times)."""
    from flask import g

    if "dtr_registry_actions" not in g:
        g.dtr_registry_actions = {}
    return g.dtr_registry_actions


def require(
    caller: Caller, name: str, action: str, token_name: str | None = None, scope: str | None = None
):
    """Raise unless the caller may do `action` on repository `name` (see `actions_on`);
    `scope`: what a challenge names, when more than this action's scope."""
    actions = actions_on(caller, name, token_name)
    if action in actions:
        return
    if action == access.PUSH:
        audit.record_refused_push(caller.name, name)
    scope = scope or repository_scope(token_name or name, action)
    if caller.claims is not None:
        # The token lacks the action. When the caller could have it, a new token will do;
        # when they may see the repository but not do this, say so plainly.
        could = access.allowed_actions(caller.identity, repository_or_prospect(name))
        if caller.name is not None and action not in could and access.PULL in could:
            raise _denied(name, action)
        raise AuthChallenge("authentication required", scope=scope, error="insufficient_scope")
    if access.PULL not in actions:
        if caller.name is None:
            raise AuthChallenge("authentication required", scope=scope)
        raise NameUnknown("repository name not known to registry", {"name": name})
    raise _denied(name, action)


def _denied(name, action):
    # With a detail, docker treats DENIED as final instead of retrying the upload 5 times.
    return Denied(
        "requested access to the resource is denied",
        {"Type": "repository", "Name": name, "Action": access.TOKEN_ACTIONS.get(action, action)},
    )


def repository_scope(name, action):
    """The token scope a client needs for `action` (docker asks pull,push to push)."""
    if action == access.PUSH:
        return f"repository:{name}:pull,push"
    if action == access.ADMIN:
        return f"repository:{name}:*"
    return f"repository:{name}:{access.TOKEN_ACTIONS.get(action, action)}"


CATALOG_SCOPE = "registry:catalog:*"


def require_catalog(caller: Caller):
    if caller.claims is not None:
        allowed = access.TOKEN_ALL in granted_actions(caller.claims, "registry", "catalog")
    else:
        allowed = access.may_list_catalog(caller.identity)
    if not allowed:
        if caller.claims is not None:
            raise AuthChallenge(
                "authentication required", scope=CATALOG_SCOPE, error="insufficient_scope"
            )
        raise Denied("only administrators may list the catalog")


def challenge_header(challenge: AuthChallenge) -> str:
    realm = f"{request.scheme}://{request.host}/auth/token"
    header = f'Bearer realm="{realm}",service="{domain_name()}"'
    if challenge.scope:
        header += f',scope="{challenge.scope}"'
    if challenge.error:
        header += f',error="{challenge.error}"'
    return header
