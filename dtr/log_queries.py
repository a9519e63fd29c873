"""Reading the log lines of every replica (table `log_lines`, filled by log_shipper.py): the
newest lines, or those after a number, filtered; and live streams, which poll for new ones.
Lines come in the order they were stored: a replica's line may follow another's logged up to
LOG_SHIP_SECONDS later.

Component, level and replica are filtered in SQL; the text (any case, anywhere in the line as
the page shows it) in Python, over rows read newest first (or oldest first after a number) in
chunks until enough match. Each read is a transaction of its own, read-only (no writer lock),
on a connection of its own: streams read after their request ended.
"""

import json
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from .database import own_connection
from .errors import InvalidInput
from .logs import COMPONENTS, LEVELS, render_line
from .models import LogLine

TABLE = LogLine.__table__
CHUNK = 1000  # rows read at a time when a text filter leaves many out
STREAM_BATCH = 500  # lines a stream sends per read; a full batch reads again at once
POLL_SECONDS = 0.5  # how often a stream looks for new lines
MAX_LIMIT = 5000


@dataclass(frozen=True)
class LogFilter:
    """Which lines to show: a component and a replica (None: all), a lowest level, a text."""

    component: str | None = None
    level: str | None = None
    text: str = ""
    replica: str | None = None

    def conditions(self) -> list:
        conditions = []
        if self.component:
            conditions.append(TABLE.c.component == self.component)
        if self.level:
            conditions.append(TABLE.c.level.in_(LEVELS[LEVELS.index(self.level) :]))
        if self.replica:
            conditions.append(TABLE.c.replica == self.replica)
        return conditions

    def matches_text(self, entry) -> bool:
        return not self.text or self.text.lower() in shown_line(entry).lower()


def shown_line(entry) -> str:
    """The line as the page shows it: its replica, then the line of the file."""
    return f"{entry['replica']} {render_line(entry)}"


def _entry(row) -> dict:
    entry = {
        "seq": row.id,
        "time": row.time.isoformat(timespec="milliseconds") + "Z",
        "replica": row.replica,
        "component": row.component,
        "level": row.level,
        "logger": row.logger,
        "message": row.message,
    }
    if row.details:
        entry.update(json.loads(row.details))
    return entry


def last_number(engine) -> int:
    """The newest line's number (0: none yet)."""
    with own_connection(engine) as connection:
        return connection.scalar(select(func.max(TABLE.c.id))) or 0


def replicas(engine) -> list[str]:
    """The names of the replicas that have lines, by name."""
    with own_connection(engine) as connection:
        return list(connection.scalars(select(TABLE.c.replica).distinct().order_by("replica")))


def select_lines(engine, log_filter=LogFilter(), since=None, limit=200):
    """(entries oldest first, cursor). Without `since`: the newest `limit` matching lines.
    With it: the first `limit` matching lines after it. The cursor is the number to pass as
    `since` next time to get only what comes after."""
    with own_connection(engine) as connection:
        last = connection.scalar(select(func.max(TABLE.c.id))) or 0
        if since is None:
            found = _scan(connection, log_filter, TABLE.c.id <= last, True, limit)
            return found[::-1], last
        bounds = (TABLE.c.id > since) & (TABLE.c.id <= last)  # later commits: the next call
        found = _scan(connection, log_filter, bounds, False, limit + 1)
    if len(found) > limit:
        return found[:limit], found[limit - 1]["seq"]
    return found, last


def _scan(connection, log_filter, bounds, newest_first, wanted) -> list[dict]:
    """Up to `wanted` matching lines within `bounds`, in the order read."""
    order = TABLE.c.id.desc() if newest_first else TABLE.c.id.asc()
    query = select(TABLE).where(bounds, *log_filter.conditions()).order_by(order)
    if not log_filter.text:
        return [_entry(row) for row in connection.execute(query.limit(wanted))]
    found, position = [], None
    while True:
        page = query
        if position is not None:
            page = query.where(TABLE.c.id < position if newest_first else TABLE.c.id > position)
        rows = connection.execute(page.limit(CHUNK)).all()
        for row in rows:
            entry = _entry(row)
            if log_filter.matches_text(entry):
                found.append(entry)
                if len(found) == wanted:
                    return found
        if len(rows) < CHUNK:
            return found
        position = rows[-1].id


def follow(
    engine,
    log_filter,
    since,
    heartbeat,
    lifetime,
    connected=lambda: True,
    poll=POLL_SECONDS,
    clock=time.monotonic,
    sleep=time.sleep,
):
    """Yield lists of new matching lines as they are stored (looking every `poll` seconds),
    and an empty list when nothing was yielded for `heartbeat` seconds (keep the connection
    alive); end after `lifetime` seconds, or when `connected()` says the client left.
    `since` None: from now; a number beyond the last line (another database): from the
    oldest line kept."""
    last = last_number(engine)
    if since is None:
        since = last
    elif since > last:
        since = 0
    deadline = clock() + lifetime
    quiet_since = clock()
    full = False
    while (now := clock()) < deadline and connected():
        if not full:
            sleep(max(min(now + poll, quiet_since + heartbeat, deadline) - now, 0))
        entries, since = select_lines(engine, log_filter, since, limit=STREAM_BATCH)
        full = len(entries) == STREAM_BATCH
        if entries or clock() - quiet_since >= heartbeat:
            yield entries
            quiet_since = clock()


def parse_query(args, default_limit=200):
    """(LogFilter, since, limit) from query parameters component, level, q, replica, since,
    limit."""
    component = args.get("component", "").strip().lower() or None
    if component is not None and component not in COMPONENTS:
        raise InvalidInput(
            f"component: one of {', '.join(COMPONENTS)}, or empty for all",
            {"field": "component"},
        )
    level = args.get("level", "").strip().upper() or None
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"level: one of {', '.join(LEVELS)}", {"field": "level"})
    text = args.get("q", "").strip()
    if len(text) > 200:
        raise InvalidInput("q: at most 200 characters", {"field": "q"})
    replica = args.get("replica", "").strip() or None
    if replica is not None and len(replica) > 255:
        raise InvalidInput("replica: at most 255 characters", {"field": "replica"})
    since = _number(args, "since", None, 10**15)
    limit = _number(args, "limit", default_limit, MAX_LIMIT)
    if limit < 1:
        raise InvalidInput(f"limit: an integer from 1 to {MAX_LIMIT}", {"field": "limit"})
    return LogFilter(component, level, text, replica), since, limit


def _number(args, name, default, top):
    raw = args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > top:
        raise InvalidInput(f"{name}: an integer from 0 to {top}", {"field": name})
    return int(raw)
