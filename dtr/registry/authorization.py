"""Who is calling the registry and may they do this? Bearer tokens carry what the token
service granted (from the access function); HTTP Basic is checked against it directly."""

from dataclasses import dataclass, field

from flask import current_app, request

from .. import access
from ..auth.identity import ANONYMOUS, Identity
from ..auth.tokens import TokenInvalid, granted_actions
from ..database import db
from ..errors import Denied, InvalidCredentials, NameUnknown
from ..logs import set_request_user
from ..services import audit
from ..services.accounts import authenticate, find_account
from ..services.repositories import repository_or_prospect
from ..services.settings import domain_name

# registry action -> token action
TOKEN_ACTION = {access.PULL: "pull", access.PUSH: "push", access.DELETE: "delete"}


class AuthChallenge(Exception):
    """Answer 401 with a WWW-Authenticate challenge."""

    def __init__(self, message, scope=None, error=None):
        super().__init__(message)
        self.message, self.scope, self.error = message, scope, error


@dataclass
class Caller:
    identity: Identity | None = None  # set for HTTP Basic
    claims: dict | None = None  # set for a bearer token
    cache: dict = field(default_factory=dict)

    @property
    def name(self):
        if self.claims is not None:
            return self.claims.get("sub") or None
        return self.identity.name

    def full_identity(self) -> Identity:
        """The Identity (with account id) of a bearer token's subject."""
        if self.identity is None:
            account = find_account(self.name) if self.name else None
            self.identity = (
                Identity(name=account.name, role=account.role, account_id=account.id)
                if account
                else ANONYMOUS
            )
        return self.identity


def current_caller(scope=None) -> Caller:
    """Authenticate the request; raise AuthChallenge (for `scope`) when credentials are
    missing or bad."""
    caller = _authenticated_caller(scope)
    set_request_user(caller.name)
    return caller


def _authenticated_caller(scope) -> Caller:
    header = request.authorization
    if header is None:
        raise AuthChallenge("authentication required", scope=scope)
    if header.type == "bearer":
        key = current_app.extensions["dtr_token_key"]
        try:
            return Caller(claims=key.verify(header.token or "", domain_name()))
        except TokenInvalid as error:
            raise AuthChallenge(
                f"invalid token: {error}", scope=scope, error="invalid_token"
            ) from None
    if header.type == "basic":
        try:
            return Caller(identity=authenticate(header.username or "", header.password or ""))
        except InvalidCredentials:
            raise AuthChallenge("incorrect username or password", scope=scope) from None
    raise AuthChallenge("unsupported authorization scheme", scope=scope)


def actions_on(caller: Caller, name: str, token_name: str | None = None) -> set:
    """Registry actions the caller may do on a repository name; `token_name`: the name a
    token grants them under, when not `name` (a trust GUN: HOST/ns/repo)."""
    key = token_name or name
    if key in caller.cache:
        return caller.cache[key]
    if caller.claims is not None:
        granted = granted_actions(caller.claims, "repository", key)
        actions = {a for a, t in TOKEN_ACTION.items() if t in granted or "*" in granted}
        if "*" in granted:  # granted only to those with admin (auth/grants.py)
            actions.add(access.ADMIN)
    else:
        actions = set(access.allowed_actions(caller.identity, repository_or_prospect(name)))
    caller.cache[key] = actions
    return actions


def require(caller: Caller, name: str, action: str, token_name: str | None = None):
    """Raise unless the caller may do `action` on repository `name` (see `actions_on`)."""
    actions = actions_on(caller, name, token_name)
    if action in actions:
        return
    if action == access.PUSH:
        audit.record(caller.name, "push.refused", name)
        db.session.commit()
    scope = repository_scope(token_name or name, action)
    if caller.claims is not None:
        # The token lacks the action. When the caller could have it, a new token will do;
        # when they may see the repository but not do this, say so plainly.
        could = access.allowed_actions(caller.full_identity(), repository_or_prospect(name))
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
        {"Type": "repository", "Name": name, "Action": TOKEN_ACTION.get(action, action)},
    )


def repository_scope(name, action):
    """The token scope a client needs for `action` (docker asks pull,push to push)."""
    if action == access.PUSH:
        return f"repository:{name}:pull,push"
    if action == access.ADMIN:
        return f"repository:{name}:*"
    return f"repository:{name}:{TOKEN_ACTION.get(action, action)}"


CATALOG_SCOPE = "registry:catalog:*"


def require_catalog(caller: Caller):
    if caller.claims is not None:
        allowed = "*" in granted_actions(caller.claims, "registry", "catalog")
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
