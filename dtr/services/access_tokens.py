"""Personal access tokens: what a person hands to CI instead of their password.

A token acts for its owner, never beyond what the owner may do (access.allowed_actions
narrows the owner's actions to the token's scopes), expires (by default after 90 days, at
most after the maximum lifetime of Settings > Auth), and is revoked at once by deleting it.
Its secret is shown once, when it is created; only a keyed hash is stored.
"""

from datetime import timedelta

from sqlalchemy import func, select

from .. import access
from ..auth.identity import METRICS, SCOPES, TOKEN, USER, Identity
from ..auth.secret_tokens import ACCESS_TOKEN_PREFIX, new_secret, secret_hash
from ..database import db
from ..errors import Denied, InvalidInput, NameUnknown
from ..models import AccessToken, Account, utcnow
from ..names import row_id
from . import audit
from .accounts import user_or_404
from .callers import require_logged_in
from .credential_rules import add_named, check_credential_name, expiry_from_days
from .credentials import account_may_log_in, forget_cached

MAX_TOKENS_PER_USER = 100


def create_token(actor: Identity, owner_name, name, scopes, expires_in_days=None):
    """A new token of `owner_name` (who must be the caller): (the row, its secret)."""
    require_logged_in(actor)
    owner = user_or_404(owner_name)
    if actor.account_id != owner.id:
        raise Denied("you may create access tokens only for yourself")
    require_password_credential(actor, "create access tokens")
    name = check_credential_name(name)
    scopes = _check_scopes(scopes)
    if METRICS in scopes and not access.may_read_metrics(actor):
        raise InvalidInput(
            "scopes: metrics is for administrators (only they may read /metrics)",
            {"field": "scopes"},
        )
    expires_at = expiry_from_days(expires_in_days)
    count = db.session.scalar(
        select(func.count()).select_from(AccessToken).where(AccessToken.account_id == owner.id)
    )
    if count >= MAX_TOKENS_PER_USER:
        raise InvalidInput(
            f"you have {count} access tokens, the most allowed: revoke some first",
            {"field": "name"},
        )
    secret = new_secret(ACCESS_TOKEN_PREFIX)
    token = AccessToken(
        account_id=owner.id,
        name=name,
        scopes=" ".join(scopes),
        secret_hash=secret_hash(secret),
        expires_at=expires_at,
    )
    add_named(token, f"you already have an access token named {name!r}")
    audit.record(
        actor.name,
        "token.create",
        f"{owner.name}/{name}",
        {"scopes": scopes, "expiresAt": expires_at.isoformat() + "Z"},
    )
    db.session.commit()
    return token, secret


def require_password_credential(actor: Identity, what):
    """Credentials make credentials only when the caller logged in as themselves (password
    or session): a leaked token must not mint more."""
    if actor.kind != USER:
        raise Denied(f"access tokens cannot {what}: log in with your password or the web portal")


def _check_scopes(scopes):
    if not isinstance(scopes, list) or not scopes:
        raise InvalidInput(f"scopes: a non-empty list of {', '.join(SCOPES)}", {"field": "scopes"})
    chosen = []
    for scope in scopes:
        if scope not in SCOPES:
            raise InvalidInput(
                f"scopes: {str(scope)[:50]!r} is not one of {', '.join(SCOPES)}",
                {"field": "scopes"},
            )
        if scope not in chosen:
            chosen.append(scope)
    return [scope for scope in SCOPES if scope in chosen]


def _owner_for_listing(actor: Identity, owner_name) -> Account:
    require_logged_in(actor)
    owner = user_or_404(owner_name)
    if actor.account_id != owner.id and not access.is_admin(actor):
        raise Denied("you may see only your own access tokens")
    return owner


def list_tokens(actor: Identity, owner_name) -> list[AccessToken]:
    owner = _owner_for_listing(actor, owner_name)
    query = select(AccessToken).where(AccessToken.account_id == owner.id)
    return list(db.session.scalars(query.order_by(AccessToken.created_at, AccessToken.id)))


def revoke_token(actor: Identity, owner_name, token_id):
    """Delete a token (its owner or an admin); it stops working at once in this process and
    within LOOKUP_CACHE_SECONDS in others."""
    owner = _owner_for_listing(actor, owner_name)
    token = _token_of(owner, token_id)
    db.session.delete(token)
    audit.record(actor.name, "token.revoke", f"{owner.name}/{token.name}")
    db.session.commit()
    forget_cached()


def _token_of(owner: Account, token_id) -> AccessToken:
    number = row_id(token_id)
    token = db.session.get(AccessToken, number) if number is not None else None
    if token is None or token.account_id != owner.id:
        raise NameUnknown(f"{owner.name} has no access token {str(token_id)[:40]!r}")
    return token


def expiring_soon(identity: Identity, days=7) -> list[AccessToken]:
    """The caller's tokens that expire within `days` (for a warning in the portal)."""
    if identity.account_id is None:
        return []
    now = utcnow()
    query = select(AccessToken).where(
        AccessToken.account_id == identity.account_id,
        AccessToken.expires_at <= now + timedelta(days=days),
    )
    return list(db.session.scalars(query.order_by(AccessToken.expires_at)))


# --- authentication -----------------------------------------------------------------------


def identity_of_token_secret(username, secret) -> Identity | None:
    """The identity an access token's secret stands for, if it is the token of `username`
    and still valid; None otherwise."""
    token = db.session.scalar(
        select(AccessToken).where(AccessToken.secret_hash == secret_hash(secret))
    )
    if token is None:
        return None
    account = db.session.get(Account, token.account_id)
    if account is None or account.name != username:
        return None
    return _identity(token, account)


def identity_of_token_id(token_id, generation) -> Identity | None:
    token = db.session.get(AccessToken, token_id)
    if token is None:
        return None
    account = db.session.get(Account, token.account_id)
    if account is None or str(account.credential_generation) != generation:
        return None
    return _identity(token, account)


def _identity(token: AccessToken, account: Account) -> Identity | None:
    if not account_may_log_in(account) or token.expires_at <= utcnow():
        return None
    return Identity(
        name=account.name,
        role=account.role,
        account_id=account.id,
        kind=TOKEN,
        scopes=frozenset(token.scopes.split()),
        credential=f"t:{token.id}:{account.credential_generation}",
    )
