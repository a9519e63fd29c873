"""Search of accounts by name (repository search is `repositories.list_repositories`)."""

from sqlalchemy import func, select

from ..database import db
from ..models import Account
from .settings import get_setting


def contains_pattern(text):
    """A LIKE pattern (escape character backslash) matching `text` literally, anywhere."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_accounts(identity, query, limit):
    """Accounts whose name contains `query`, for logged-in callers."""
    if get_setting("auth_mode") == "none" or identity.anonymous or not query:
        return []
    pattern = contains_pattern(query)
    return list(
        db.session.scalars(
            select(Account)
            .where(func.lower(Account.name).like(pattern, escape="\\"))
            .order_by(Account.name)
            .limit(limit)
        )
    )
