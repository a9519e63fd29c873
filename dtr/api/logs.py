"""GET /api/v0/admin/logs: the recent lines of the components' logs (administrators)."""

from flask import request

from ..logs import RING, parse_query
from ..services.callers import require_admin
from .common import caller


def get_logs():
    """Lines from the in-memory ring, oldest first, and `last`: the `since` of the next call."""
    require_admin(caller(), "read the logs")
    log_filter, since, limit = parse_query(request.args)
    lines, last = RING.select(log_filter, since, limit)
    return {"lines": lines, "last": last}
