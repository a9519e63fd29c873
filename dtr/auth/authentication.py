"""Who is calling: the one place that turns credentials into an identity, for the registry
(/v2 and the token service), the JSON API and the web portal. Each of them keeps only its
own error mapping (InvalidCredentials, InvalidToken, Denied, TooManyRequests).

Credentials, and where each is accepted:

    a password (HTTP Basic, the token service, the login form)     everywhere
    a personal access token as the password                       registry, API (by scope)
    a robot's secret as the password of `<org>+<name>`             registry only
    a registry token (Bearer JWT from /auth/token)                 registry only
    the portal's session cookie                                    API (with CSRF), portal,
                                                                   /metrics

/metrics (surface METRICS) takes a password, an access token with the metrics scope or the
session; who may read it is `access.may_read_metrics`.

Every password check goes through the login throttle (per name and per address, shared by
every process) and the bounded hashing of `passwords`; access tokens and robot secrets are
random, so checking one costs a keyed hash and no throttle applies to a valid one.
"""

import ipaddress
from dataclasses import dataclass

from flask import current_app, request

from ..errors import Denied, InvalidCredentials, InvalidToken
from ..logs import component_logger, set_request_user
from ..services import audit
from ..services.access_tokens import identity_of_token_secret
from ..services.accounts import authenticate
from ..services.credential_rules import is_text
from ..services.credentials import identity_of_credential, record_use
from ..services.robots import SEPARATOR, identity_of_robot_secret
from ..services.settings import domain_name
from . import login_throttle, passwords
from .identity import (
    ANONYMOUS,
    API_SCOPES,
    METRICS_SCOPES,
    REGISTRY_SCOPES,
    ROBOT,
    TOKEN,
    Identity,
)
from .secret_tokens import ACCESS_TOKEN_PREFIX, ROBOT_SECRET_PREFIX, looks_like
from .sessions import session_identity
from .tokens import TokenInvalid

REGISTRY, API, WEB, METRICS = "registry", "api", "web", "metrics"
log = component_logger("auth")
PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


@dataclass(frozen=True)
class Caller:
    identity: Identity
    method: str  # anonymous | password | access-token | robot | bearer | session
    claims: dict | None = None  # a registry token's claims

    @property
    def name(self):
        return self.identity.name


def caller_of_request(surface: str) -> Caller:
    """The caller of the current request on `surface` (REGISTRY, API, WEB or METRICS)."""
    header = request.authorization
    if header is None or surface == WEB:
        if surface == REGISTRY:
            return Caller(ANONYMOUS, "anonymous")
        identity = session_identity()
        return Caller(identity, "anonymous" if identity.anonymous else "session")
    if header.type == "basic":
        identity = log_in(header.username or "", header.password or "", surface)
        return Caller(identity, _method_of(identity))
    if header.type == "bearer":
        if surface != REGISTRY:
            raise InvalidCredentials(
                "registry tokens are for /v2 only: use HTTP Basic (a password, or an access "
                "token with an api scope) or the portal's session"
            )
        return _registry_token_caller(header.token or "")
    raise InvalidCredentials("unsupported authorization scheme")


def _method_of(identity):
    return {TOKEN: "access-token", ROBOT: "robot"}.get(identity.kind, "password")


def _registry_token_caller(raw) -> Caller:
    key = current_app.extensions["dtr_token_key"]
    try:
        claims = key.verify(raw, domain_name())
    except TokenInvalid as error:
        raise InvalidToken(f"invalid token: {error}") from None
    if not claims.get("sub"):
        return Caller(ANONYMOUS, "bearer", claims)
    identity = identity_of_credential(claims.get("cred"))
    if identity is None or identity.name != claims["sub"]:
        raise InvalidToken(
            "invalid token: its credential was revoked or changed (password, role or state): "
            "log in again"
        )
    return Caller(identity.narrowed(REGISTRY_SCOPES), "bearer", claims)


def log_in(name: str, secret: str, surface: str) -> Identity:
    """A name with a password, an access token or a robot's secret -> the identity, narrowed
    to what `surface` accepts. Raises InvalidCredentials, Denied or TooManyRequests."""
    address = request.remote_addr
    if not name or not secret or not is_text(name) or not is_text(secret) or len(name) > 300:
        _failed(name[:300] if is_text(name) else "?", address, surface, "malformed credentials")
    if looks_like(secret, ACCESS_TOKEN_PREFIX):
        login_throttle.check(None, address)
        identity = identity_of_token_secret(name, secret)
        if identity is None:
            _failed(name, address, surface, "unknown, revoked or expired access token", False)
        record_use(identity, address)
    elif SEPARATOR in name or looks_like(secret, ROBOT_SECRET_PREFIX):
        login_throttle.check(None, address)
        identity = identity_of_robot_secret(name, secret)
        if identity is None:
            _failed(name, address, surface, "unknown, disabled or expired robot account", False)
        record_use(identity, address)
    else:
        passwords.refuse_when_busy(name, secret)  # a flood costs no database work
        login_throttle.check(name, address)
        try:
            identity = authenticate(name, secret)
        except InvalidCredentials as failure:
            _failed(name, address, surface, failure.detail or failure.message)
        login_throttle.record_success(name)
    set_request_user(identity.name)
    return _for_surface(identity, surface)


def _failed(name, address, surface, reason, against_name=True):
    """Count and audit a failed login, then refuse it. A token's or a robot's failure counts
    against the address only: the name's lock does not hold those secrets (they cannot be
    guessed), so a stale token retried by a job must not lock its owner's password out."""
    log.warning("login failed for %r (%s): %s", name[:100], surface, reason)
    audit.set_client_address(address)
    login_throttle.record_failure(
        name if against_name else None,
        address,
        also=lambda: audit.record(
            name[:255] or None, "login.failed", name[:255], {"via": surface, "reason": reason}
        ),
    )
    raise InvalidCredentials("incorrect username or password")


# surfaces robots may not use: (what a refusal names, the token scopes that open it, what a
# token without them lacks)
_NOT_FOR_ROBOTS = {
    API: ("the API", API_SCOPES, "API scope (api:read or api:write)"),
    METRICS: ("/metrics", METRICS_SCOPES, "metrics scope"),
}


def _for_surface(identity: Identity, surface: str) -> Identity:
    if surface == WEB and identity.kind != "user":
        raise InvalidCredentials(
            "access tokens and robot accounts are for docker and the API: log in to the "
            "portal with your password"
        )
    if surface in _NOT_FOR_ROBOTS:
        what, scopes, lacking = _NOT_FOR_ROBOTS[surface]
        if identity.kind == ROBOT:
            raise Denied(f"robot accounts may only push and pull (docker login): not {what}")
        narrowed = identity.narrowed(scopes)
        if narrowed.scopes is not None and not narrowed.scopes:
            raise Denied(f"this access token has no {lacking}")
        return narrowed
    if surface == REGISTRY:
        narrowed = identity.narrowed(REGISTRY_SCOPES)
        if narrowed.scopes is not None and not narrowed.scopes:
            raise InvalidCredentials(
                "this access token has no registry scope (registry:pull or registry:push)"
            )
        return narrowed
    return identity


def request_is_local() -> bool:
    """From this host itself: a loopback client address and no proxy in between."""
    if any(request.headers.get(header) for header in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
