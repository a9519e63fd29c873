"""Search of repositories (namespace, name, descriptions) and accounts, as the caller may
see them."""

from flask import request

from ..services import repositories
from ..services.search import search_accounts
from . import serialize
from .common import caller, page


def search():
    query = request.args.get("q", "")
    start, limit = page()
    identity = caller()
    found, total = repositories.list_repositories(identity, None, start, limit, query)
    return {
        "repositoryResults": [serialize.repository(r) for r in found],
        "numRepositoryResults": total,
        "accountResults": [serialize.account(a) for a in search_accounts(identity, query, limit)],
    }


def autocomplete():
    query = request.args.get("q", "")
    identity = caller()
    found, _ = repositories.list_repositories(identity, None, 0, 20, query)
    names = [r.full_name for r in found]
    names += [a.name for a in search_accounts(identity, query, 20)]
    return {"results": names}
