"""Garbage collection settings, stored as admin settings (they apply without a restart): the
cron schedule, the grace window, and whether untagged manifests are garbage.

Schedules take DTR's forms, in UTC: six fields with seconds first (`0 0 0 * * *`), the
standard five fields (`0 3 * * *`), or a shortcut (`@hourly`, `@daily`, `@midnight`,
`@weekly`, `@monthly`, `@yearly`). croniter parses them; an empty schedule means none.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import CroniterBadDateError, CroniterError, croniter

from ..database import db
from ..errors import InvalidInput
from . import audit
from .settings import forget_cached_setting, get_setting, set_setting

SCHEDULE_KEY = "gc_schedule"
GRACE_KEY = "gc_grace_minutes"
UNTAGGED_KEY = "gc_delete_untagged"
DEFAULT_GRACE_MINUTES = 60
MAX_GRACE_MINUTES = 30 * 24 * 60
SHORTCUTS = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly")
FIELDS_HELP = (
    "5 fields (minute hour day-of-month month day-of-week), 6 fields with seconds first "
    "(second minute hour day-of-month month day-of-week), or one of " + ", ".join(SHORTCUTS)
)


@dataclass(frozen=True)
class GcSettings:
    grace_minutes: int  # blobs and manifests younger than this are kept
    delete_untagged: bool  # manifests no tag (nor index, nor live subject) keeps are garbage
    schedule: str  # cron, UTC; "" for none


def gc_settings() -> GcSettings:
    grace = get_setting(GRACE_KEY)
    untagged = get_setting(UNTAGGED_KEY)
    return GcSettings(
        grace_minutes=DEFAULT_GRACE_MINUTES if grace is None else grace,
        delete_untagged=True if untagged is None else untagged,
        schedule=get_setting(SCHEDULE_KEY) or "",
    )


def update_gc_settings(actor_name, grace_minutes=None, delete_untagged=None) -> GcSettings:
    """Change the grace window and/or the untagged-manifests rule; audited."""
    changes = {}
    if grace_minutes is not None:
        if not 0 <= grace_minutes <= MAX_GRACE_MINUTES:
            raise InvalidInput(
                f"graceWindowMinutes: from 0 to {MAX_GRACE_MINUTES}",
                {"field": "graceWindowMinutes"},
            )
        changes[GRACE_KEY] = grace_minutes
    if delete_untagged is not None:
        changes[UNTAGGED_KEY] = bool(delete_untagged)
    for key, value in changes.items():
        set_setting(key, value, commit=False)
    audit.record(actor_name, "settings.gc", "garbageCollection", changes)
    _commit_settings(changes)
    return gc_settings()


def set_schedule(actor_name, text) -> str:
    """Validate and store a schedule ("" clears it); returns it as stored."""
    schedule = parse_schedule(text)
    set_setting(SCHEDULE_KEY, schedule, commit=False)
    audit.record(actor_name, "settings.gc.schedule", "garbageCollection", {"schedule": schedule})
    _commit_settings({SCHEDULE_KEY: schedule})
    return schedule


def _commit_settings(keys):
    db.session.commit()
    for key in keys:
        forget_cached_setting(key)


def parse_schedule(text) -> str:
    """The schedule, trimmed, if croniter accepts it in one of DTR's forms; InvalidInput with
    the reason otherwise."""
    if not isinstance(text, str):
        raise InvalidInput("schedule: must be a string", {"field": "schedule"})
    schedule = " ".join(text.split())
    if not schedule:
        return ""
    if schedule.startswith("@"):
        if schedule.lower() not in SHORTCUTS:
            _refuse(f"unknown shortcut {schedule}; use {FIELDS_HELP}")
        schedule = schedule.lower()
    elif len(schedule.split(" ")) not in (5, 6):
        _refuse(f"{len(schedule.split(' '))} fields; use {FIELDS_HELP}")
    try:
        _iterator(schedule, datetime.now(UTC)).get_next()
    except CroniterBadDateError:
        _refuse(f"{schedule} never runs: no such date")
    except (CroniterError, ValueError) as error:
        _refuse(f"{error}; use {FIELDS_HELP}")
    return schedule


def next_runs(schedule, now=None, count=3) -> list[datetime]:
    """The next `count` run times (naive UTC) after `now` (naive UTC or aware); none for an
    empty schedule."""
    if not schedule:
        return []
    iterator = _iterator(schedule, _aware(now or datetime.now(UTC)))
    return [iterator.get_next().replace(tzinfo=None) for _ in range(count)]


def previous_run(schedule, now) -> datetime:
    """The latest run time (naive UTC) at or before `now` (naive UTC or aware)."""
    return _iterator(schedule, _aware(now)).get_prev().replace(tzinfo=None)


def _iterator(schedule, start):
    return croniter(schedule, start, ret_type=datetime, second_at_beginning=_has_seconds(schedule))


def _has_seconds(schedule):
    return not schedule.startswith("@") and len(schedule.split(" ")) == 6


def _aware(moment):
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _refuse(reason):
    raise InvalidInput(f"schedule: {reason}", {"field": "schedule"})
