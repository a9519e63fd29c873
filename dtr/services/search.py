"""Search of accounts by name (repository search is `repositories.list_repositories`)."""

from sqlalchemy import func, select

from ..database import db
from ..models import Account
from .settings import get_setting


def search_accounts(identity, query, limit):
    """Accounts whose name contains `query`, for logged-in callers."""
    if get_setting("auth_mode") == "none" or identity.anonymous or not query:
        return []
    pattern = f"%{query.lower()}%"
    return list(
        db.session.scalars(
            select(Account)
            .where(func.lower(Account.name).like(pattern))
            .order_by(Account.name)
            .limit(limit)
        )
    )
