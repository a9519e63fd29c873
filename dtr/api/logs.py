"""GET /api/v0/admin/logs: the recent lines of the components' logs (administrators)."""

from flask import request

from ..database import db
from ..log_queries import parse_query, select_lines
from ..log_shipper import SHIPPER
from ..services.callers import require_admin
from .common import caller


def get_logs():
    """Lines of every replica, oldest first, and `last`: the `since` of the next call."""
    require_admin(caller(), "read the logs")
    log_filter, since, limit = parse_query(request.args)
    SHIPPER.flush()  # this process's lines so far: a caller sees what it just did
    lines, last = select_lines(db.engine, log_filter, since, limit)
    return {"lines": lines, "last": last}
