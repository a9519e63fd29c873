"""The registry catalog: every repository name, sorted, paginated."""

from sqlalchemy import select

from ..database import db
from ..models import Account, Repository


def list_repository_names(limit=None, last=None):
    full_name = Account.name + "/" + Repository.name
    query = (
        select(full_name)
        .select_from(Repository)
        .join(Account, Repository.namespace_id == Account.id)
        .order_by(full_name)
    )
    if last:
        query = query.where(full_name > last)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))
