"""Garbage collection schedules: DTR's cron forms (seconds first, five fields, shortcuts),
in UTC; invalid ones refused with the reason; the next run times."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dtr.errors import InvalidInput
from dtr.services.gc_settings import next_runs, parse_schedule

NOW = datetime(2026, 11, 27, 12, 34, 56)  # a Friday, naive UTC


def at(*args):
    return datetime(*args)


@pytest.mark.parametrize(
    "schedule, expected",
    [
        # six fields, seconds first
        ("0 0 0 * * *", [at(2026, 11, 28), at(2026, 11, 29), at(2026, 11, 30)]),
        (
            "30 15 10 * * *",
            [
                at(2026, 11, 28, 10, 15, 30),
                at(2026, 11, 29, 10, 15, 30),
                at(2026, 11, 30, 10, 15, 30),
            ],
        ),
        (
            "*/20 * * * * *",
            [
                at(2026, 11, 27, 12, 35, 0),
                at(2026, 11, 27, 12, 35, 20),
                at(2026, 11, 27, 12, 35, 40),
            ],
        ),
        (
            "0 0 3 * * sat",
            [at(2026, 11, 28, 3), at(2026, 12, 5, 3), at(2026, 12, 12, 3)],
        ),
        # five fields
        ("0 3 * * *", [at(2026, 11, 28, 3), at(2026, 11, 29, 3), at(2026, 11, 30, 3)]),
        (
            "*/15 * * * *",
            [at(2026, 11, 27, 12, 45), at(2026, 11, 27, 13, 0), at(2026, 11, 27, 13, 15)],
        ),
        ("0 12 * * mon-fri", [at(2026, 11, 30, 12), at(2026, 12, 1, 12), at(2026, 12, 2, 12)]),
        ("0 0 1 */6 *", [at(2027, 1, 1), at(2027, 7, 1), at(2028, 1, 1)]),
        # shortcuts
        ("@hourly", [at(2026, 11, 27, 13), at(2026, 11, 27, 14), at(2026, 11, 27, 15)]),
        ("@daily", [at(2026, 11, 28), at(2026, 11, 29), at(2026, 11, 30)]),
        ("@midnight", [at(2026, 11, 28), at(2026, 11, 29), at(2026, 11, 30)]),
        ("@weekly", [at(2026, 11, 29), at(2026, 12, 6), at(2026, 12, 13)]),
        ("@monthly", [at(2026, 12, 1), at(2027, 1, 1), at(2027, 2, 1)]),
        ("@yearly", [at(2027, 1, 1), at(2028, 1, 1), at(2029, 1, 1)]),
    ],
)
def test_every_form_and_its_next_runs(schedule, expected):
    assert parse_schedule(schedule) == schedule
    assert next_runs(schedule, NOW) == expected


def test_schedules_are_trimmed_and_shortcuts_lowercased():
    assert parse_schedule("  0  0 0 * * *  ") == "0 0 0 * * *"
    assert parse_schedule("@DAILY") == "@daily"


def test_empty_means_no_schedule():
    assert parse_schedule("") == "" and parse_schedule("   ") == ""
    assert next_runs("", NOW) == []


def test_next_runs_are_utc_whatever_the_zone_of_now():
    elsewhere = NOW.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=-5)))
    assert next_runs("@daily", elsewhere) == next_runs("@daily", NOW)
    assert next_runs("0 0 * * *", NOW, count=5)[4] == at(2026, 12, 2)


def test_next_runs_are_strictly_after_now():
    on_the_dot = at(2026, 11, 28)
    assert next_runs("@daily", on_the_dot, count=1) == [at(2026, 11, 29)]


@pytest.mark.parametrize(
    "schedule, reason",
    [
        ("* * * *", "4 fields"),
        ("0 0 0 * * * 2027", "7 fields"),
        ("every day", "2 fields"),
        ("@often", "unknown shortcut @often"),
        ("@annually", "unknown shortcut @annually"),
        ("61 * * * *", "out of range"),
        ("0 60 0 * * *", "out of range"),
        ("0 0 * * 8", "out of range"),
        ("a b c d e", "not acceptable"),
        ("0 0 31 2 *", "never runs"),
        ("0 0 0 30 2 *", "never runs"),
    ],
)
def test_invalid_schedules_are_refused_with_the_reason(schedule, reason):
    with pytest.raises(InvalidInput) as refused:
        parse_schedule(schedule)
    assert refused.value.message.startswith("schedule: ")
    assert reason in refused.value.message
    assert refused.value.detail == {"field": "schedule"}


def test_a_wrong_field_count_explains_the_forms():
    with pytest.raises(InvalidInput) as refused:
        parse_schedule("* * *")
    message = refused.value.message
    assert "5 fields" in message and "6 fields with seconds first" in message
    assert "@hourly" in message and "@yearly" in message


def test_a_schedule_must_be_a_string():
    with pytest.raises(InvalidInput):
        parse_schedule(5)
