"""The rules credentials follow, set in Settings > Auth: the shortest password allowed
(checked wherever a password is set: set-up, command line, API, portal, CSV import) and the
longest lifetime of access tokens and robot secrets."""

from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from ..auth.secret_tokens import ACCESS_TOKEN_PREFIX, ROBOT_SECRET_PREFIX
from ..database import db
from ..errors import InvalidInput, NameTaken
from ..models import utcnow
from .field_checks import checked_whole_number
from .settings import get_setting

PASSWORD_MIN_LENGTH_RANGE = (8, 128)
MAX_PASSWORD_LENGTH = 1024
TOKEN_MAX_DAYS_RANGE = (1, 3650)
DEFAULT_TOKEN_DAYS = 90
MAX_CREDENTIAL_NAME = 100


def password_min_length() -> int:
    return get_setting("password_min_length")


def token_max_days() -> int:
    return get_setting("token_max_lifetime_days")


def check_password(password, field="password") -> str:
    """A password that may be set: text of at least the minimum length; the error names the
    field and the reason."""
    if not isinstance(password, str) or not password:
        raise InvalidInput(f"{field}: required", {"field": field})
    minimum = password_min_length()
    if len(password) < minimum:
        raise InvalidInput(
            f"{field}: too short ({len(password)} characters): at least {minimum} characters",
            {"field": field},
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"{field}: at most {MAX_PASSWORD_LENGTH} characters", {"field": field})
    if not is_text(password):
        raise InvalidInput(f"{field}: must be text (valid UTF-8)", {"field": field})
    if password.startswith((ACCESS_TOKEN_PREFIX, ROBOT_SECRET_PREFIX)):
        raise InvalidInput(
            f"{field}: must not start with {ACCESS_TOKEN_PREFIX} or {ROBOT_SECRET_PREFIX} "
            "(those are access token and robot secrets)",
            {"field": field},
        )
    return password


def is_text(value: str) -> bool:
    """Encodable as UTF-8 (JSON can carry lone surrogates, which are not) and free of NUL
    (which PostgreSQL cannot store)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_credential_name(name, field="name") -> str:
    """The name of an access token: printable text, 1 to 100 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{field}: required", {"field": field})
    name = name.strip()
    if len(name) > MAX_CREDENTIAL_NAME or not name.isprintable() or not is_text(name):
        raise InvalidInput(
            f"{field}: printable text of at most {MAX_CREDENTIAL_NAME} characters",
            {"field": field},
        )
    return name


def expiry_from_days(days, field="expiresInDays"):
    """When a credential made now for `days` days (None: the default) expires."""
    maximum = token_max_days()
    if days is None:
        days = min(DEFAULT_TOKEN_DAYS, maximum)
    says = f"whole days from 1 to {maximum} (the maximum of Settings > Auth)"
    checked_whole_number(days, field, 1, maximum, says)
    return utcnow() + timedelta(days=days)


def add_named(row, taken_message):
    """Add a credential whose name must be unique where it lives (a user's tokens, an
    organization's robots); NameTaken, naming the field, when it is not."""
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise NameTaken(taken_message, {"field": "name"}) from None
